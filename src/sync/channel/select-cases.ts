/**
 * The cases of a `select` (select.ts): how they are built and checked, and one try of each.
 */
import { type Encoded, newEncoded, ownEncoded, payloadLength } from '../../memory/codec.js';
import { InvalidArgumentError } from '../../memory/errors.js';
import { checkAborted, checkWaitOptions, type WaitOptions, type WaitWord } from '../../memory/wait/index.js';
import { type Channel, coreOf } from './channel.js';
import type { ChannelCore } from './core.js';
import * as R from './byte-ring.js';
import { closedError, encodeMessage, PUT_BUSY, PUT_OK, PUT_STREAM, TAKE_BUSY, TAKE_STREAM } from './message.js';
import { retract, tryHandoff } from './rendezvous.js';
import { WaitingEntry, waitingNow } from './waiting.js';
import type { StreamIn, StreamOut } from './stream.js';

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

/** One select's cases, checked and encoded, and its waiting state (select-wait.ts). */
export interface Prepared {
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
  /**
   * A selectSync's bell (select-wait.ts), when it sleeps on it: then each registration on a word
   * also counts in the word's BELLED, what enterBelled returned in `entered` (as `seen`), and the
   * select registers on the bell first (`bellReg`, `bellSeen`).
   */
  bell: WaitWord | undefined;
  entered: Int32Array;
  bellReg: boolean;
  bellSeen: number;
  /**
   * Rendezvous send cases whose message fits the ring and whose channel this select does not also
   * receive from: while the select sleeps, one of them is offered (left in the ring for any
   * receiver to take; {@link offer}), instead of being tried by a 0.2 ms spin each round.
   */
  offerable: number[];
  /** Rendezvous receive case i's count in WAITING while the select waits (else undefined). */
  waiting: (WaitingEntry | undefined)[];
  /** The case offered now (-1: none), and its message's sequence number. */
  offered: number;
  offeredSeq: number;
}

/** Checks the options and the cases (throws at the call site) and encodes the send values. */
export function prepare(
  cases: readonly SelectCase[],
  opts: WaitOptions | undefined,
  what: 'select options' | 'selectSync options',
): Prepared {
  checkWaitOptions(opts, what);
  checkAborted(opts);
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
    bell: undefined,
    entered: new Int32Array(cases.length * 2),
    bellReg: false,
    bellSeen: 0,
    offerable: [],
    waiting: [],
    offered: -1,
    offeredSeq: 0,
  };
  // An index loop, not forEach: forEach skips the holes of a sparse array (`[, recv(ch)]`, or
  // `new Array(2)`), which then shifted every case's channel (TypeError) or left no case at all (a
  // select that never settled, and a process that exited under the pending await).
  for (let i = 0; i < cases.length; i++) {
    const k = cases[i];
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
  }
  for (const i of p.order) {
    const core = p.cores[i];
    const enc = p.encs[i];
    if (!enc || !core.rendezvous || R.recordBytes(payloadLength(enc)) > core.r.size) continue;
    const alsoRecv = p.order.some((j) => !p.encs[j] && p.cores[j].c.buffer === core.c.buffer);
    if (!alsoRecv) p.offerable.push(i);
  }
  return p;
}

/** A case committed to a stream; the caller runs it to its end. */
export interface Committed {
  index: number;
  stream: StreamIn | StreamOut;
  /** A rendezvous send: the sequence number of its message, which a receiver must take. */
  seq?: number;
}

/** Tries case `i` once: its result, or undefined with `pick[i]` saying why it could not go. */
export function tryOne(p: Prepared, i: number, waiting = false): SelectResult | Committed | undefined {
  const core = p.cores[i];
  const enc = p.encs[i];
  if (enc) {
    if (core.rendezvous) {
      p.pick[i] = 0;
      const pr = core.producer;
      if (R.recordBytes(payloadLength(enc)) > core.r.size) {
        // Larger than the ring: it streams, once a receiver waits (then it is handed off as a
        // blocking send's would be, select.ts).
        if (waitingNow(core.c) <= 0) {
          if (core.closed) throw closedError();
          return undefined;
        }
        const r = pr.tryPut(enc, true);
        if (r === PUT_STREAM) return { index: i, stream: pr.out as StreamOut, seq: pr.lastSeq };
        p.pick[i] = r === PUT_BUSY ? 1 : 0;
        if (r === PUT_BUSY) pr.watchHolder(); // a holder that stood still is cut (byte-ring.ts invariant 4)
        return undefined;
      }
      if (waiting && p.offerable.includes(i)) {
        // offered while the select sleeps instead: a spin here cannot meet a receiver on this thread
        if (core.closed) throw closedError();
        return undefined;
      }
      return tryHandoff(pr, enc) ? { index: i, ok: true } : undefined;
    }
    const r = core.producer.tryPut(enc, true);
    if (r === PUT_OK) return { index: i, ok: true };
    if (r === PUT_STREAM) return { index: i, stream: core.producer.out as StreamOut };
    p.pick[i] = r === PUT_BUSY ? 1 : 0;
    if (r === PUT_BUSY) core.producer.watchHolder(); // a holder that stood still is cut (byte-ring.ts invariant 4)
    return undefined;
  }
  if (core.consumer.in) {
    // Another receive of this thread is reading a stream to its end (byte-ring.ts invariant 8):
    // busy, and its end rings CLOCK's word.
    p.pick[i] = 1;
    return undefined;
  }
  const r = core.consumer.tryTake<unknown>(true);
  if (typeof r === 'object') return { index: i, ok: r.ok, value: r.ok ? r.value : undefined };
  if (r === TAKE_STREAM) return { index: i, stream: core.consumer.in as unknown as StreamIn };
  p.pick[i] = r === TAKE_BUSY ? 1 : 0;
  if (r === TAKE_BUSY) core.consumer.watchHolder(); // one that stood still is freed (byte-ring.ts invariant 7)
  return undefined;
}

/** One round: tries every channel case once, in a fresh random order (`waiting`: see tryOne). */
export function tryAll(p: Prepared, waiting = false): SelectResult | Committed | undefined {
  const { order } = p;
  for (let k = order.length - 1; k > 0; k--) {
    const j = Math.floor(Math.random() * (k + 1));
    const t = order[k];
    order[k] = order[j];
    order[j] = t;
  }
  for (const i of order) {
    const r = tryOne(p, i, waiting);
    if (r) return r;
  }
  return p.dflt >= 0 ? { index: p.dflt, ok: true } : undefined;
}

/**
 * Rendezvous receive cases count as waiting receivers for the whole select (`delta` 1 at its
 * start, -1 at its end; byte-ring.ts invariant 9).
 */
export function markWaiting(p: Prepared, delta: number): void {
  for (const i of p.order) {
    const core = p.cores[i];
    if (!core.rendezvous || p.encs[i]) continue;
    if (delta > 0) (p.waiting[i] = new WaitingEntry(core)).enter();
    else p.waiting[i]?.leave();
  }
}

/**
 * Each waiting round, registered on the cases' DATA words and before it looks: counts the
 * rendezvous receive cases again where a census moved WAITING's epoch (byte-ring.ts invariant 9).
 * A census after this rings DATA, which wakes the select for the next round.
 */
export function recountWaiting(p: Prepared): void {
  for (const i of p.order) p.waiting[i]?.recount();
}

/** The result of committed case `c` once its stream ended with `v` (a RecvResult, or undefined). */
export function streamed(p: Prepared, c: Committed, v: unknown): SelectResult {
  const index = c.index;
  if (p.encs[index]) return { index, ok: true };
  const r = v as { ok: boolean; value?: unknown } | undefined;
  // (select.ts waits on after a receive whose stream was abandoned: v is then never undefined)
  return r ? { index, ok: r.ok, value: r.value } : { index, ok: false };
}

/**
 * Before the select sleeps: leaves the message of one offerable rendezvous send case in its ring
 * (one with a receiver waiting if there is such), so that a receiver, on any thread, can take it
 * while the select sleeps. At most one case is offered at a time, and it is withdrawn before any
 * other case is tried ({@link withdraw}), so at most one case goes.
 */
export function offer(p: Prepared): void {
  const cands = p.offerable;
  if (cands.length === 0) return;
  const waited = cands.filter((i) => waitingNow(p.cores[i].c) > 0);
  const from = waited.length > 0 ? waited : cands;
  const i = from[Math.floor(Math.random() * from.length)];
  const pr = p.cores[i].producer;
  if (pr.tryPut(p.encs[i] as Encoded, true) !== PUT_OK) return;
  p.offered = i;
  p.offeredSeq = pr.lastSeq;
}

/** Takes back the offered message: the offered case's result if a receiver took it meanwhile. */
export function withdraw(p: Prepared): SelectResult | undefined {
  const i = p.offered;
  if (i < 0) return undefined;
  p.offered = -1;
  return retract(p.cores[i].producer, p.offeredSeq) ? undefined : { index: i, ok: true };
}
