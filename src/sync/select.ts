/**
 * Go's `select` over channels: waits until one of several sends or receives can go, does exactly
 * that one, and says which.
 *
 * Each round tries the cases in a fresh random order (so among ready cases each is equally likely:
 * no case starves another), and the first that goes wins. If none can, it waits for a change on
 * any of the channels' wait words: for a receive case the channel's DATA word and its consumer-lock
 * word, for a send case ROOM and the producer-lock word. Then it tries again.
 *
 * How it waits (protocol in channel-wait.ts: a writer bumps and notifies a word only while someone
 * is registered on it, so a waiter registers first, then snapshots the words, then tries):
 * - async: registers on every word and races one `Atomics.waitAsync` per word (with a ref'd timer
 *   that keeps the loop alive and bounds the wait to {@link ASYNC_SLICE_MS}). V8 cannot cancel a
 *   waitAsync, so afterwards the words that did not fire are notified once more when no one else
 *   sleeps on them, which settles this select's leftover waits at once; the slice bounds the rest.
 * - sync (workers): registers on every word and spins a little watching them all; a thread can then
 *   block on one word only, so it blocks on the cases' words in turn for at most {@link SYNC_SLICE_MS}
 *   each, re-trying every case in between: a change on another channel is seen at most that late.
 *   With a single case it blocks until that case's word changes.
 */
import { now } from '../memory/clock.js';
import { type Encoded, newEncoded, ownEncoded } from '../memory/codec.js';
import { InvalidArgumentError, TimeoutError } from '../memory/errors.js';
import { cpuRelax, WORKER_SPIN } from '../memory/spin.js';
import { checkWaitOptions, holdLoop, releaseLoop, type WaitOptions } from '../memory/wait.js';
import * as R from './byte-ring.js';
import { type Channel, coreOf } from './channel.js';
import {
  type ChannelCore,
  encodeMessage,
  PUT_BUSY,
  PUT_OK,
  PUT_STREAM,
  TAKE_BUSY,
  TAKE_STREAM,
} from './channel-core.js';
import type { StreamIn, StreamOut } from './channel-stream.js';
import { abortError, arm, checkAborted, ring, runAsync, runSync, type Wait } from './channel-wait.js';

/** Longest single async wait before every case is tried again (a backstop; wake-ups are exact). */
export const ASYNC_SLICE_MS = 1000;
/** Longest a sync select blocks on one channel's word while it waits on several. */
export const SYNC_SLICE_MS = 1;

const KIND = Symbol('skein.selectCase');

/** A receive from `ch` (build it with {@link recv}). */
export interface RecvCase<T = unknown> {
  readonly [KIND]: 'recv';
  readonly ch: Channel<T>;
}
/** A send of `value` to `ch` (build it with {@link send}). */
export interface SendCase<T = unknown> {
  readonly [KIND]: 'send';
  readonly ch: Channel<T>;
  readonly value: T;
}
/** Taken when no other case is ready at once: makes `select` non-blocking. */
export interface DefaultCase {
  readonly [KIND]: 'default';
}
export type SelectCase = RecvCase<unknown> | SendCase<unknown> | DefaultCase;

/**
 * Which case went. For a receive, `ok` and `value` are what `recv` would give (`ok: false` when the
 * channel is closed and drained); a send or the default case has `ok: true` and no value.
 */
export interface SelectResult<V = unknown> {
  index: number;
  ok: boolean;
  value?: V;
}

/** Case builder: receive from `ch`. */
export function recv<T>(ch: Channel<T>): RecvCase<T> {
  coreOf(ch as Channel<unknown>);
  return { [KIND]: 'recv', ch };
}

/** Case builder: send `value` to `ch` (encoded when `select` starts; SerializationError there). */
export function send<T>(ch: Channel<T>, value: T): SendCase<T> {
  coreOf(ch as Channel<unknown>);
  return { [KIND]: 'send', ch, value };
}

/** Case builder: the default case; `select` returns its index when nothing is ready at once. */
export function defaultCase(): DefaultCase {
  return { [KIND]: 'default' };
}

interface Prepared {
  cores: ChannelCore[];
  /** Encoded value per case (send cases), else null. */
  encs: (Encoded | null)[];
  /** Index of the default case, or -1. */
  dflt: number;
  /** Indices of the channel cases. */
  order: number[];
  /** Snapshot of both wait words of case i: [2 * i] DATA or ROOM, [2 * i + 1] its lock word. */
  seen: Int32Array;
  /** Why case i's last try failed: 0 no data / no room, 1 its lock was busy. */
  pick: Uint8Array;
  /** Words of case i this select is registered on: bit 0 data/room, bit 1 the lock word. */
  reg: Uint8Array;
}

function prepare(cases: readonly SelectCase[]): Prepared {
  if (!Array.isArray(cases) || cases.length === 0) {
    throw new InvalidArgumentError('select() needs an array of at least one case');
  }
  const p: Prepared = {
    cores: [],
    encs: [],
    dflt: -1,
    order: [],
    seen: new Int32Array(cases.length * 2),
    pick: new Uint8Array(cases.length),
    reg: new Uint8Array(cases.length),
  };
  cases.forEach((k, i) => {
    const kind = (k as { [KIND]?: string } | null)?.[KIND];
    if (kind === 'default') {
      if (p.dflt >= 0) throw new InvalidArgumentError('select() takes at most one default case');
      p.dflt = i;
    } else if (kind === 'recv' || kind === 'send') {
      p.order.push(i);
    } else {
      throw new InvalidArgumentError(`select() case ${i} was not made by recv(), send() or defaultCase()`);
    }
    p.cores.push(kind === 'default' ? (undefined as never) : coreOf((k as RecvCase).ch));
    p.encs.push(null);
    if (kind === 'send') {
      p.encs[i] = ownEncoded(encodeMessage((k as SendCase).value, newEncoded()));
    }
  });
  return p;
}

/** The two words a case may wait on: [data-or-room, lock]. */
function words(p: Prepared, i: number): [number, number] {
  return p.encs[i] ? [R.ROOM, R.PLW] : [R.DATA, R.CLW];
}

/** A case committed to a stream; the caller runs it to its end. */
interface Committed {
  index: number;
  stream: StreamIn | StreamOut;
}

/** Tries case `i` once: its result, or undefined with `pick[i]` saying why it could not go. */
function tryOne(p: Prepared, i: number): SelectResult | Committed | undefined {
  const core = p.cores[i];
  const enc = p.encs[i];
  if (enc) {
    if (core.rendezvous) {
      p.pick[i] = 0;
      return core.tryHandoff(enc) ? { index: i, ok: true } : undefined;
    }
    const r = core.tryPut(enc, true);
    if (r === PUT_OK) return { index: i, ok: true };
    if (r === PUT_STREAM) return { index: i, stream: core.out as StreamOut };
    p.pick[i] = r === PUT_BUSY ? 1 : 0;
    return undefined;
  }
  const r = core.tryTake<unknown>(true);
  if (typeof r === 'object') return { index: i, ok: r.ok, value: r.ok ? r.value : undefined };
  if (r === TAKE_STREAM) return { index: i, stream: core.in as StreamIn };
  p.pick[i] = r === TAKE_BUSY ? 1 : 0;
  return undefined;
}

/** One round: tries every channel case once, in a fresh random order. */
function tryAll(p: Prepared): SelectResult | Committed | undefined {
  const { order } = p;
  for (let k = order.length - 1; k > 0; k--) {
    const j = Math.floor(Math.random() * (k + 1));
    const t = order[k];
    order[k] = order[j];
    order[j] = t;
  }
  for (const i of order) {
    const r = tryOne(p, i);
    if (r) return r;
  }
  return p.dflt >= 0 ? { index: p.dflt, ok: true } : undefined;
}

/** Rendezvous receive cases count as waiting receivers for the whole select. */
function markWaiting(p: Prepared, delta: number): void {
  for (const i of p.order) {
    const core = p.cores[i];
    if (core.rendezvous && !p.encs[i]) {
      Atomics.add(core.c, R.WAITING, delta);
      if (delta > 0) ring(core.c, R.ROOM);
    }
  }
}

/**
 * One waiting round (protocol in channel-wait.ts: register, snapshot, then try). It registers on
 * every case's data word (DATA for a receive, ROOM for a send) and tries all cases. A failed try
 * never rings its own case's data word, but it does ring the lock word it took and released, so
 * this select registers on a case's lock word only when that case found the lock busy, and then
 * snapshots that word and tries the case once more. Returns a result, or undefined after which the
 * caller waits on the registered words and then calls {@link unregister}.
 */
function prepareWait(p: Prepared): SelectResult | Committed | undefined {
  const { order, cores, seen, reg } = p;
  for (const i of order) {
    const c = cores[i].c;
    const w = words(p, i)[0];
    Atomics.add(c, w + 1, 1);
    reg[i] = 1;
    seen[2 * i] = arm(c, w);
  }
  const r = tryAll(p);
  if (r) return r;
  for (const i of order) {
    if (p.pick[i] !== 1) continue;
    const c = cores[i].c;
    const w = words(p, i)[1];
    Atomics.add(c, w + 1, 1);
    reg[i] = 3;
    seen[2 * i + 1] = arm(c, w);
    const again = tryOne(p, i);
    if (again) return again;
  }
  return undefined;
}

/** The registered (word, snapshot) pairs of case i. */
function registered(p: Prepared, i: number): [number, number][] {
  const [a, b] = words(p, i);
  const out: [number, number][] = [];
  if (p.reg[i] & 1) out.push([a, p.seen[2 * i]]);
  if (p.reg[i] & 2) out.push([b, p.seen[2 * i + 1]]);
  return out;
}

/**
 * Takes the registrations back. After an async wait it also settles this select's own leftover
 * waitAsyncs (V8 cannot cancel them) by a notify on each word that did not change, where no one
 * else is registered to be woken by it.
 */
function unregister(p: Prepared, waitedAsync: boolean): void {
  for (const i of p.order) {
    const c = p.cores[i].c;
    for (const [w, seen] of registered(p, i)) {
      if (Atomics.sub(c, w + 1, 1) === 1 && waitedAsync && Atomics.load(c, w) === seen) Atomics.notify(c, w);
    }
    p.reg[i] = 0;
  }
}

function changed(p: Prepared): boolean {
  for (const i of p.order) {
    for (const [w, seen] of registered(p, i)) if (Atomics.load(p.cores[i].c, w) !== seen) return true;
  }
  return false;
}

function timeoutError(opts: WaitOptions | undefined, what: string): TimeoutError {
  return new TimeoutError(`${what} timed out after ${opts?.timeout} ms`);
}

/** Registered and snapshotted: waits until a word changes, the slice ends, or the signal fires. */
async function waitAny(p: Prepared, deadline: number, signal: AbortSignal | undefined): Promise<void> {
  const slice = Math.min(deadline - now(), ASYNC_SLICE_MS);
  if (slice <= 0) return;
  const racers: Promise<unknown>[] = [];
  for (const i of p.order) {
    for (const [w, seen] of registered(p, i)) {
      const r = Atomics.waitAsync(p.cores[i].c, w, seen, slice);
      if (!r.async) return;
      racers.push(r.value);
    }
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  racers.push(new Promise((resolve) => (timer = setTimeout(resolve, slice))));
  if (signal)
    racers.push(new Promise((resolve) => signal.addEventListener('abort', (onAbort = () => resolve(0)))));
  try {
    await Promise.race(racers);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

/** Registered and snapshotted: spins, then blocks on one case's word (in turn) for a slice. */
function waitOneSync(p: Prepared, deadline: number, turn: number): void {
  for (let k = 0; k < WORKER_SPIN; k++) {
    if (changed(p)) return;
    cpuRelax();
  }
  const left = deadline - now();
  if (left <= 0) return;
  const i = p.order[turn % p.order.length];
  const mine = registered(p, i);
  const [w, seen] = mine[p.pick[i] === 1 && mine.length > 1 ? 1 : 0];
  const single = p.order.length === 1 && mine.length === 1;
  Atomics.wait(p.cores[i].c, w, seen, single ? left : Math.min(left, SYNC_SLICE_MS));
}

function resultOf(p: Prepared, index: number, v: unknown): SelectResult {
  if (p.encs[index]) return { index, ok: true };
  const r = v as { ok: boolean; value?: unknown } | undefined;
  // a receive whose streamed message was abandoned (close) reports the channel closed
  return r ? { index, ok: r.ok, value: r.value } : { index, ok: false };
}

/**
 * Waits until one case can go and does it; among cases ready at once, one at random.
 * Rejects with TimeoutError or AbortError (then no case went), ChannelClosedError when the send case
 * it picks is on a closed channel, SerializationError for an uncloneable send value. A message
 * larger than a channel's ring, once its case is picked, is moved to the end regardless of the
 * timeout (see Channel.send).
 *
 * @example
 * ```ts
 * const r = await select([recv(jobs), send(results, last), defaultCase()], { timeout: 100 });
 * if (r.index === 0 && r.ok) handle(r.value);
 * ```
 */
export async function select<V = unknown>(
  cases: readonly SelectCase[],
  opts?: WaitOptions,
): Promise<SelectResult<V>> {
  checkWaitOptions(opts);
  checkAborted(opts);
  const p = prepare(cases);
  let r = tryAll(p);
  if (r && !('stream' in r)) return r as SelectResult<V>;
  const deadline = opts?.timeout === undefined ? Number.POSITIVE_INFINITY : now() + opts.timeout;
  const signal = opts?.signal;
  markWaiting(p, 1);
  holdLoop();
  try {
    while (!r) {
      if (signal?.aborted) throw abortError(signal);
      if (now() >= deadline) throw timeoutError(opts, 'select');
      let waited = false;
      try {
        r = prepareWait(p);
        if (!r) {
          waited = true;
          await waitAny(p, deadline, signal);
        }
      } finally {
        unregister(p, waited);
      }
    }
    if (!('stream' in r)) return r as SelectResult<V>;
    const steps = r.stream.steps() as Generator<Wait, unknown, undefined>;
    return resultOf(
      p,
      r.index,
      await runAsync(p.cores[r.index].c, steps, undefined, 'select'),
    ) as SelectResult<V>;
  } finally {
    releaseLoop();
    markWaiting(p, -1);
  }
}

/** Blocking form of {@link select}, for worker threads. */
export function selectSync<V = unknown>(cases: readonly SelectCase[], opts?: WaitOptions): SelectResult<V> {
  checkWaitOptions(opts);
  checkAborted(opts);
  const p = prepare(cases);
  let r = tryAll(p);
  if (r && !('stream' in r)) return r as SelectResult<V>;
  const deadline = opts?.timeout === undefined ? Number.POSITIVE_INFINITY : now() + opts.timeout;
  const signal = opts?.signal;
  markWaiting(p, 1);
  try {
    for (let turn = 0; !r; turn++) {
      if (signal?.aborted) throw abortError(signal);
      if (now() >= deadline) throw timeoutError(opts, 'selectSync');
      try {
        r = prepareWait(p);
        if (!r) waitOneSync(p, deadline, turn);
      } finally {
        unregister(p, false);
      }
    }
    if (!('stream' in r)) return r as SelectResult<V>;
    const steps = r.stream.steps() as Generator<Wait, unknown, undefined>;
    return resultOf(
      p,
      r.index,
      runSync(p.cores[r.index].c, steps, undefined, 'selectSync'),
    ) as SelectResult<V>;
  } finally {
    markWaiting(p, -1);
  }
}
