/**
 * The cases of a `select` (select.ts): how they are built and checked, and one try of each.
 */
import { type Encoded, newEncoded, ownEncoded } from '../../memory/codec.js';
import { InvalidArgumentError } from '../../memory/errors.js';
import { checkAborted, checkWaitOptions, type WaitOptions } from '../../memory/wait/index.js';
import { type Channel, coreOf } from './channel.js';
import type { ChannelCore } from './core.js';
import { encodeMessage, PUT_BUSY, PUT_OK, PUT_STREAM, TAKE_BUSY, TAKE_STREAM } from './message.js';
import { countWaiting, tryHandoff } from './rendezvous.js';
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
}

/** Checks the options and the cases (throws at the call site) and encodes the send values. */
export function prepare(cases: readonly SelectCase[], opts: WaitOptions | undefined): Prepared {
  checkWaitOptions(opts);
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

/** A case committed to a stream; the caller runs it to its end. */
export interface Committed {
  index: number;
  stream: StreamIn | StreamOut;
}

/** Tries case `i` once: its result, or undefined with `pick[i]` saying why it could not go. */
export function tryOne(p: Prepared, i: number): SelectResult | Committed | undefined {
  const core = p.cores[i];
  const enc = p.encs[i];
  if (enc) {
    if (core.rendezvous) {
      p.pick[i] = 0;
      return tryHandoff(core.producer, enc) ? { index: i, ok: true } : undefined;
    }
    const r = core.producer.tryPut(enc, true);
    if (r === PUT_OK) return { index: i, ok: true };
    if (r === PUT_STREAM) return { index: i, stream: core.producer.out as StreamOut };
    p.pick[i] = r === PUT_BUSY ? 1 : 0;
    return undefined;
  }
  const r = core.consumer.tryTake<unknown>(true);
  if (typeof r === 'object') return { index: i, ok: r.ok, value: r.ok ? r.value : undefined };
  if (r === TAKE_STREAM) return { index: i, stream: core.consumer.in as StreamIn };
  p.pick[i] = r === TAKE_BUSY ? 1 : 0;
  return undefined;
}

/** One round: tries every channel case once, in a fresh random order. */
export function tryAll(p: Prepared): SelectResult | Committed | undefined {
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
export function markWaiting(p: Prepared, delta: number): void {
  for (const i of p.order) {
    const core = p.cores[i];
    if (core.rendezvous && !p.encs[i]) countWaiting(core, delta);
  }
}

/** The result of committed case `c` once its stream ended with `v` (a RecvResult, or undefined). */
export function streamed(p: Prepared, c: Committed, v: unknown): SelectResult {
  const index = c.index;
  if (p.encs[index]) return { index, ok: true };
  const r = v as { ok: boolean; value?: unknown } | undefined;
  // a receive whose streamed message was abandoned (close) reports the channel closed
  return r ? { index, ok: r.ok, value: r.value } : { index, ok: false };
}
