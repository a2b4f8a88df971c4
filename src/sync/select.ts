/**
 * Go's `select` over channels: waits until one of several sends or receives can go, does exactly
 * that one, and says which.
 *
 * Each round snapshots the wait words of every case, then tries the cases in a fresh random order
 * (so among ready cases each is equally likely: no case starves another), and the first that goes
 * wins. If none can, it waits for any of the snapshotted words to change: a receive case on the
 * channel's DATA word (or its consumer-lock word while another receiver is copying), a send case
 * on ROOM (or the producer-lock word). Then it tries again.
 *
 * How it waits (the writers of a word notify only when its sleepers count is non-zero, see
 * memory/wait.ts):
 * - async: registers as a sleeper on every word and races one `Atomics.waitAsync` per word (with
 *   a ref'd timer that keeps the loop alive and bounds the wait to {@link ASYNC_SLICE_MS}). V8 cannot
 *   cancel a waitAsync, so afterwards the words that did not fire are notified once more when no one
 *   else sleeps on them, which settles this select's leftover waits at once; the slice bounds the rest.
 * - sync (workers): a thread can block on one word only, so with several words it blocks on them in
 *   turn for at most {@link SYNC_SLICE_MS} each, re-trying every case in between; a change on another
 *   word is seen at most that late. With a single word it blocks until that word changes.
 */
import { now } from '../memory/clock.js';
import { type Encoded, encode } from '../memory/codec.js';
import { AbortError, InvalidArgumentError, TimeoutError } from '../memory/errors.js';
import { spinWhileEqual, WORKER_SPIN } from '../memory/spin.js';
import { checkWaitOptions, holdLoop, releaseLoop, type WaitOptions, wake } from '../memory/wait.js';
import * as R from './byte-ring.js';
import { type Channel, coreOf } from './channel.js';
import {
  type ChannelCore,
  checkSize,
  PUT_BUSY,
  PUT_OK,
  PUT_STREAM,
  TAKE_BUSY,
  TAKE_STREAM,
} from './channel-core.js';
import type { StreamIn, StreamOut } from './channel-stream.js';
import { checkAborted, runAsync, runSync, type Wait } from './channel-wait.js';

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
  /** Wait word per case for the next wait, and its snapshot: [2 * i] DATA/ROOM, [2 * i + 1] lock word. */
  seen: Int32Array;
  pick: Uint8Array;
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
      const e = encode((k as SendCase).value);
      checkSize(e);
      p.encs[i] = e;
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

/** One round: snapshot, then try every channel case in random order. */
function tryAll(p: Prepared): SelectResult | Committed | undefined {
  const { order, cores, encs, seen, pick } = p;
  for (const i of order) {
    const [a, b] = words(p, i);
    seen[2 * i] = Atomics.load(cores[i].c, a);
    seen[2 * i + 1] = Atomics.load(cores[i].c, b);
  }
  for (let k = order.length - 1; k > 0; k--) {
    const j = Math.floor(Math.random() * (k + 1));
    const t = order[k];
    order[k] = order[j];
    order[j] = t;
  }
  for (const i of order) {
    const core = cores[i];
    const enc = encs[i];
    if (enc) {
      if (core.rendezvous) {
        if (core.tryHandoff(enc)) return { index: i, ok: true };
        pick[i] = 0;
        continue;
      }
      const r = core.tryPut(enc, true);
      if (r === PUT_OK) return { index: i, ok: true };
      if (r === PUT_STREAM) return { index: i, stream: core.out as StreamOut };
      pick[i] = r === PUT_BUSY ? 1 : 0;
    } else {
      const r = core.tryTake<unknown>(true);
      if (typeof r === 'object') return { index: i, ok: r.ok, value: r.ok ? r.value : undefined };
      if (r === TAKE_STREAM) return { index: i, stream: core.in as StreamIn };
      pick[i] = r === TAKE_BUSY ? 1 : 0;
    }
  }
  return p.dflt >= 0 ? { index: p.dflt, ok: true } : undefined;
}

/** Rendezvous receive cases count as waiting receivers for the whole select. */
function markWaiting(p: Prepared, delta: number): void {
  for (const i of p.order) {
    const core = p.cores[i];
    if (core.rendezvous && !p.encs[i]) {
      Atomics.add(core.c, R.WAITING, delta);
      if (delta > 0) wake(core.c, R.ROOM);
    }
  }
}

function abortError(signal: AbortSignal): AbortError {
  return new AbortError('the operation was aborted', { cause: signal.reason });
}

function timeoutError(opts: WaitOptions | undefined, what: string): TimeoutError {
  return new TimeoutError(`${what} timed out after ${opts?.timeout} ms`);
}

function changed(p: Prepared): boolean {
  for (const i of p.order) {
    const w = words(p, i)[p.pick[i]];
    if (Atomics.load(p.cores[i].c, w) !== p.seen[2 * i + p.pick[i]]) return true;
  }
  return false;
}

async function waitAny(p: Prepared, deadline: number, signal: AbortSignal | undefined): Promise<void> {
  const { order, cores, pick, seen } = p;
  for (const i of order) Atomics.add(cores[i].c, words(p, i)[pick[i]] + 1, 1);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  try {
    if (changed(p)) return;
    const slice = Math.min(deadline - now(), ASYNC_SLICE_MS);
    if (slice <= 0) return;
    const racers: Promise<unknown>[] = [];
    for (const i of order) {
      const w = Atomics.waitAsync(cores[i].c, words(p, i)[pick[i]], seen[2 * i + pick[i]], slice);
      if (!w.async) return;
      racers.push(w.value);
    }
    racers.push(new Promise((resolve) => (timer = setTimeout(resolve, slice))));
    if (signal) {
      racers.push(new Promise((resolve) => signal.addEventListener('abort', (onAbort = () => resolve(0)))));
    }
    await Promise.race(racers);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    for (const i of order) {
      const c = cores[i].c;
      const w = words(p, i)[pick[i]];
      // Settle this select's own leftover waitAsync now, unless that would wake someone else.
      if (Atomics.sub(c, w + 1, 1) === 1 && Atomics.load(c, w) === seen[2 * i + pick[i]])
        Atomics.notify(c, w);
    }
  }
}

function waitOneSync(p: Prepared, deadline: number, turn: number): void {
  const { order, cores, pick, seen } = p;
  const i = order[turn % order.length];
  const c = cores[i].c;
  const w = words(p, i)[pick[i]];
  const s = seen[2 * i + pick[i]];
  if (spinWhileEqual(c, w, s, WORKER_SPIN) || changed(p)) return;
  const left = deadline - now();
  if (left <= 0) return;
  Atomics.add(c, w + 1, 1);
  try {
    if (!changed(p)) {
      Atomics.wait(c, w, s, order.length === 1 ? left : Math.min(left, SYNC_SLICE_MS));
    }
  } finally {
    Atomics.sub(c, w + 1, 1);
  }
}

function finishSync(p: Prepared, done: Committed, what: string): SelectResult {
  const c = p.cores[done.index].c;
  const v = runSync(c, done.stream.steps() as Generator<Wait, unknown, undefined>, undefined, what);
  return p.encs[done.index] ? { index: done.index, ok: true } : resultOf(done.index, v);
}

function resultOf(index: number, v: unknown): SelectResult {
  const r = v as { ok: boolean; value?: unknown } | undefined;
  // a receive whose streamed message was abandoned (close) reports the channel closed
  return r ? { index, ok: r.ok, value: r.value } : { index, ok: false };
}

/**
 * Waits until one case can go and does it; among cases ready at once, one at random.
 * Rejects with TimeoutError or AbortError (then no case went), ChannelClosedError when the send case
 * it picks is on a closed channel, SerializationError for an uncloneable send value.
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
  const first = tryAll(p);
  if (first && !('stream' in first)) return first as SelectResult<V>;
  const deadline = opts?.timeout === undefined ? Number.POSITIVE_INFINITY : now() + opts.timeout;
  const signal = opts?.signal;
  markWaiting(p, 1);
  holdLoop();
  try {
    let r: SelectResult | Committed | undefined = first;
    for (;;) {
      if (r) {
        if (!('stream' in r)) return r as SelectResult<V>;
        const v = await runAsync(
          p.cores[r.index].c,
          r.stream.steps() as Generator<Wait, unknown>,
          undefined,
          'select',
        );
        return (p.encs[r.index] ? { index: r.index, ok: true } : resultOf(r.index, v)) as SelectResult<V>;
      }
      if (signal?.aborted) throw abortError(signal);
      if (now() >= deadline) throw timeoutError(opts, 'select');
      await waitAny(p, deadline, signal);
      r = tryAll(p);
    }
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
  const deadline = opts?.timeout === undefined ? Number.POSITIVE_INFINITY : now() + opts.timeout;
  const signal = opts?.signal;
  markWaiting(p, 1);
  try {
    for (let turn = 0; ; turn++) {
      const r = tryAll(p);
      if (r) return ('stream' in r ? finishSync(p, r, 'selectSync') : r) as SelectResult<V>;
      if (signal?.aborted) throw abortError(signal);
      if (now() >= deadline) throw timeoutError(opts, 'selectSync');
      waitOneSync(p, deadline, turn);
    }
  } finally {
    markWaiting(p, -1);
  }
}
