/**
 * How a `select` (select.ts) waits on several channels at once: it registers on the wait words of
 * its cases (protocol: memory/wait/word.ts), then sleeps until one of them changes through the wait
 * module's sleep on several words: async, one park per word raced in one sleep; sync, on the bell
 * (memory/wait/bell.ts, word.ts invariant 9) that every channel of its cases rings, or, when some
 * channel may be written by a thread that does not ring it, blocking on one word at a time.
 */
import { now } from '../../memory/clock.js';
import { WORKER_SPIN } from '../../memory/spin.js';
import {
  enterBelled,
  leaveBelled,
  register,
  sleepAnySync,
  sleepAsync,
  sleepBelledSync,
  unregister,
  type WaitWord,
} from '../../memory/wait/index.js';
import * as R from './byte-ring.js';
import {
  type Committed,
  offer,
  type Prepared,
  recountWaiting,
  type SelectResult,
  tryAll,
  tryOne,
} from './select-cases.js';

/** Longest single async wait before every case is tried again (a backstop; wake-ups are exact). */
export const ASYNC_SLICE_MS = 1000;
export { SYNC_SLICE_MS } from '../../memory/wait/index.js';

/**
 * Longest single sync wait on the bell before every case is tried again. A backstop: wake-ups are
 * exact, but for a thread with another bell that opens one of the channels while the select
 * sleeps (it marks the channel FOREIGN, byte-ring.ts, and its writes do not ring the bell): the
 * select sees the mark this late at most, and then blocks on one word at a time.
 */
export const BELL_SLICE_MS = 1000;

/**
 * Turns (of about SYNC_SLICE_MS each) a selectSync takes over its words before it sleeps on the
 * bell: a select still waiting after ~10 ms is idle, and then costs nothing while it waits.
 */
export const BELL_AFTER_TURNS = 10;

/**
 * The bell a selectSync sleeps on: this thread's, when it has two cases or more and every case's
 * channel rings it (made by a thread with this bell, and no thread with another has opened it);
 * else undefined (one word at a time).
 */
export function bellFor(p: Prepared): WaitWord | undefined {
  if (p.order.length < 2) return undefined;
  let bell: WaitWord | undefined;
  for (const i of p.order) {
    const core = p.cores[i];
    if (core.bell === undefined || Atomics.load(core.c, R.FOREIGN) !== 0) return undefined;
    bell = core.bell;
  }
  return bell;
}

/** The two words a case may wait on: [data-or-room, lock]. */
function words(p: Prepared, i: number): [WaitWord, WaitWord] {
  const core = p.cores[i];
  return p.encs[i] ? [core.room, core.plw] : [core.data, core.clw];
}

/**
 * Registers on word `bit` of case `i` (0: data or room, 1: its lock word) and snapshots it; with a
 * bell, counts itself in the word's BELLED too (word.ts invariant 9).
 */
function registerOn(p: Prepared, i: number, bit: 0 | 1): void {
  const w = words(p, i)[bit];
  p.seen[2 * i + bit] = register(w);
  if (p.bell !== undefined) p.entered[2 * i + bit] = enterBelled(w);
  p.reg[i] |= 1 << bit;
}

/**
 * One waiting round (word.ts invariant 1: register, snapshot, then try). It registers on every
 * case's data word (DATA for a receive, ROOM for a send) and tries all cases. A failed try never
 * rings its own case's data word, but it does ring the lock word it took and released, so this
 * select registers on a case's lock word only when that case found the lock busy, and then tries
 * that case once more. Returns a result, or undefined after which the caller sleeps on the
 * registered words; either way it then calls {@link unregisterAll}. A select with a bell registers
 * on the bell before anything else.
 */
export function prepareWait(p: Prepared): SelectResult | Committed | undefined {
  if (p.bell !== undefined) {
    p.bellSeen = register(p.bell);
    p.bellReg = true;
  }
  for (const i of p.order) registerOn(p, i, 0);
  recountWaiting(p); // registered on DATA, before the look (byte-ring.ts invariant 9)
  const r = tryAll(p, true);
  if (r) return r;
  for (const i of p.order) {
    if (p.pick[i] !== 1) continue;
    registerOn(p, i, 1);
    const again = tryOne(p, i, true);
    if (again) return again;
  }
  // Its publish rings only DATA (and PLOCK's word), on which this select is not registered for
  // this channel (offerable: no receive case on it); a receiver taking it rings ROOM.
  offer(p);
  return undefined;
}

/**
 * Hands the registrations over to a sleep, which takes them back however it ends. `prefer` names
 * the case whose word a sync sleep blocks on.
 */
function handOver(p: Prepared, prefer: number): { ws: WaitWord[]; seens: number[]; at: number } {
  const r = registered(p, prefer);
  for (const i of p.order) p.reg[i] = 0;
  return r;
}

/**
 * The words the cases are registered on, in case order, with the SEQ each was registered at; `at`
 * is the index of case `prefer`'s word (its second word when it picked that one and holds both).
 */
function registered(p: Prepared, prefer = -1): { ws: WaitWord[]; seens: number[]; at: number } {
  const ws: WaitWord[] = [];
  const seens: number[] = [];
  let at = 0;
  for (const i of p.order) {
    const [a, b] = words(p, i);
    if (i === prefer) at = ws.length + (p.pick[i] === 1 && p.reg[i] === 3 ? 1 : 0);
    if (p.reg[i] & 1) {
      ws.push(a);
      seens.push(p.seen[2 * i]);
    }
    if (p.reg[i] & 2) {
      ws.push(b);
      seens.push(p.seen[2 * i + 1]);
    }
  }
  return { ws, seens, at };
}

/**
 * Takes back the registrations still held (a round that found a result or threw, or slept on the
 * bell): each word's BELLED and registration, then the bell's (word.ts invariant 9).
 */
export function unregisterAll(p: Prepared): void {
  for (const i of p.order) {
    const [a, b] = words(p, i);
    if (p.reg[i] & 1) {
      if (p.bell !== undefined) leaveBelled(a, p.entered[2 * i]);
      unregister(a);
    }
    if (p.reg[i] & 2) {
      if (p.bell !== undefined) leaveBelled(b, p.entered[2 * i + 1]);
      unregister(b);
    }
    p.reg[i] = 0;
  }
  if (p.bellReg) {
    p.bellReg = false;
    unregister(p.bell as WaitWord);
  }
}

/**
 * Async, registered and snapshotted: sleeps until a word changes, the slice ({@link ASYNC_SLICE_MS})
 * or the deadline ends, or the signal fires (the caller then sees it).
 */
export async function waitAny(p: Prepared, deadline: number, signal: AbortSignal | undefined): Promise<void> {
  const { ws, seens } = handOver(p, -1);
  const slice = Math.max(0, Math.min(deadline - now(), ASYNC_SLICE_MS));
  await sleepAsync(ws, seens, slice, signal);
}

/**
 * Sync, registered and snapshotted: on the first turn spins watching every word, then sleeps.
 * With a bell, on the bell until a word changes, for at most BELL_SLICE_MS (the registrations stay
 * for {@link unregisterAll}); a channel found FOREIGN now ends the round at once, and the select
 * blocks on one word at a time from then on. Without, blocks on one case's word (in turn) for at
 * most SYNC_SLICE_MS, or until the deadline when there is only that word: an idle selectSync over
 * two channels woke ~900 times a second that way for as long as it waited and took 3% of a core,
 * which is why the bell once idle. Later turns do not spin again: a spin per 1 ms slice took ~10%.
 */
export function waitOneSync(p: Prepared, deadline: number, turn: number): void {
  const spins = turn === 0 ? WORKER_SPIN : 0;
  if (p.bell !== undefined) {
    for (const i of p.order) {
      if (Atomics.load(p.cores[i].c, R.FOREIGN) !== 0) {
        unregisterAll(p); // (while p.bell is set: it takes back BELLED and the bell)
        p.bell = undefined;
        return;
      }
    }
    const { ws, seens } = registered(p);
    const ms = Math.min(Math.max(0, deadline - now()), BELL_SLICE_MS);
    sleepBelledSync(p.bell, p.bellSeen, ws, seens, ms, spins);
    return;
  }
  const { ws, seens, at } = handOver(p, p.order[turn % p.order.length]);
  sleepAnySync(ws, seens, Math.max(0, deadline - now()), at, spins);
}
