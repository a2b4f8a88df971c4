/**
 * The bell: one wait word that every thread of a process shares, so that a thread can sleep on
 * several wait words at once (a thread parks on one address). Writers of a belled word ring it
 * while a bell sleeper is counted on the word (word.ts invariant 9).
 *
 * A SharedArrayBuffer cannot be looked up by name, so the bell crosses to new threads the one way
 * Node passes a value to every Worker without being asked: the environment data
 * (`setEnvironmentData`), which each new Worker inherits from the thread that starts it (a clone:
 * the same memory). The first thread of a process that loads skein makes the bell; every worker it
 * starts afterwards, and theirs, share it. A thread started before its parent loaded skein makes a
 * bell of its own: memory it shares with the others must then not count on the bell. So the bell
 * has an id, and shared memory made in one thread records the id of that thread's bell (a channel
 * does: sync/channel/byte-ring.ts BELL); a thread whose bell has another id does not ring it.
 *
 * Layout (Int32): [0, 4) the bell's wait word (word.ts); [4] ID, a random non-zero number.
 */
import { getEnvironmentData, setEnvironmentData } from 'node:worker_threads';
import { type WaitWord, WORD_SLOTS, wordAt } from './word.js';

const KEY = 'skein.wait.bell';
const ID = WORD_SLOTS;
const BYTES = (WORD_SLOTS + 1) * 4;

/** This thread's bell: its wait word, and its id. */
export interface Bell {
  readonly word: WaitWord<'wait.bell'>;
  readonly id: number;
}

function inherited(): Int32Array | undefined {
  const sab = getEnvironmentData(KEY);
  if (!(sab instanceof SharedArrayBuffer) || sab.byteLength !== BYTES) return undefined;
  const v = new Int32Array(sab);
  return Atomics.load(v, ID) === 0 ? undefined : v;
}

function made(): Int32Array {
  const v = new Int32Array(new SharedArrayBuffer(BYTES));
  // Only told apart from other bells of this process: Math.random will do (node:crypto is not loaded for it).
  Atomics.store(v, ID, 1 + Math.floor(Math.random() * 0x7ffffffe));
  setEnvironmentData(KEY, v.buffer as SharedArrayBuffer);
  return v;
}

// Made (or taken over) when skein loads, so that workers started after it inherit it.
const view = inherited() ?? made();
const bell: Bell = { word: wordAt<'wait.bell'>(view, 0), id: Atomics.load(view, ID) };

/** The bell of this thread (shared with the threads it starts and the one that started it). */
export function threadBell(): Bell {
  return bell;
}
