/**
 * Streams cut short (byte-ring.ts invariants 4 and 5): by their sender on a timeout or an abort,
 * or by a waiting thread that sees the sender stand still for STREAM_STALL_MS (it was terminated
 * while streaming, or holds PLOCK without progress); and the dropping of what they left. Also the
 * consumer lock of a receiver that stood still inside one record (invariant 7).
 */
import { now } from '../../memory/clock.js';
import { ring } from '../../memory/wait/index.js';
import * as R from './byte-ring.js';
import type { ChannelConsumer } from './consumer.js';
import type { ChannelCore } from './core.js';

/**
 * Producer-lock holders (streaming or not) this thread cut because they stood still, and consumer
 * locks it freed from a holder that stood still (invariant 7).
 */
export const cutStats = { stalled: 0, clockFreed: 0 };

/**
 * Whether PLOCK word `w` is held by the stream whose FIRST chunk is at `at`: HELD and STREAMING set,
 * CUT clear, STREAM_AT == at. (A later stream starts past this one's records, so its STREAM_AT
 * differs; it stores STREAM_AT before it sets STREAMING, so a reader that saw its STREAMING sees it.)
 */
export function ownsStream(c: Int32Array, w: number, at: number): boolean {
  return (w & (R.HELD | R.STREAMING | R.CUT)) === (R.HELD | R.STREAMING) && Atomics.load(c, R.STREAM_AT) === at;
}

/** The stall limits this thread's watchers apply (byte-ring.ts; tests shorten them through skein/internal). */
export const stallLimits = { streamMs: R.STREAM_STALL_MS, heldMs: R.HELD_STALL_MS };

/** Replaces HELD (and STREAMING) by CUT in PLOCK, from the word `w` seen (invariant 4); true if this call did it. */
export function cutStream(core: ChannelCore, w: number): boolean {
  if ((w & R.HELD) === 0) return false;
  if (Atomics.compareExchange(core.c, R.PLOCK, w, (w & ~(R.HELD | R.STREAMING)) | R.CUT) !== w) return false;
  ring(core.data);
  ring(core.plw);
  return true;
}

/**
 * The sender of the stream whose FIRST chunk is at `at` cuts it, if it still holds PLOCK (a thread
 * that took it for dead may have cut it already, and the lock passed on), then drops it at once if
 * no one has begun it.
 */
export function cutOwnStream(core: ChannelCore, at: number): void {
  for (;;) {
    const w = Atomics.load(core.c, R.PLOCK);
    if (!ownsStream(core.c, w, at) || cutStream(core, w)) break;
  }
  tryDropCut(core);
}

/**
 * Under CLOCK, with CUT set and HEAD at the cut stream's FIRST chunk or at TAIL: drops the cut
 * stream's records, counts its message received if it had any, and clears CUT (invariant 5).
 */
export function dropCut(q: ChannelConsumer, head: number): void {
  const c = q.c;
  const tail = Atomics.load(c, R.TAIL);
  if (tail !== head) q.consume(tail, 1);
  Atomics.and(c, R.PLOCK, ~R.CUT);
  ring(q.core.plw);
}

/** Drops a cut stream now if CLOCK is free and nothing unread comes before it (never waits). */
export function tryDropCut(core: ChannelCore): void {
  const c = core.c;
  if ((Atomics.load(c, R.PLOCK) & R.CUT) === 0) return;
  const q = core.consumer;
  if (!q.lock()) return;
  try {
    const head = Atomics.load(c, R.HEAD);
    const cut = (Atomics.load(c, R.PLOCK) & R.CUT) !== 0;
    if (cut && (head === Atomics.load(c, R.STREAM_AT) || head === Atomics.load(c, R.TAIL))) dropCut(q, head);
  } finally {
    q.unlock();
  }
}

/** How often a thread that waits on a stream's sender looks whether it stands still. */
export const STALL_POLL_MS = R.STREAM_STALL_MS / 4;

/**
 * Since when a snapshot of up to three shared words has stood still, on this thread's clock: the
 * bookkeeping of {@link StallWatch} and {@link ClockWatch}, which differ in the words they read and
 * in what they do to a holder that stood still. A base class, not a field: a blocking send makes a
 * StallWatch per call, and this adds no second object to it.
 */
class Stillness {
  #a = 0;
  #b = 0;
  #c = 0;
  #since = -1;

  /** Forgets the snapshot: what is watched now cannot stall, or was just acted on. */
  protected forget(): void {
    this.#since = -1;
  }

  /**
   * Whether the snapshot (a, b, c), read before `t`, is the one held and has stood still for
   * `limitMs` by `t`. A different one (or the first) is held from `t` on, and is not still yet.
   */
  protected stoodStill(t: number, limitMs: number, a: number, b: number, c: number): boolean {
    if (this.#since < 0 || a !== this.#a || b !== this.#b || c !== this.#c) {
      this.#a = a;
      this.#b = b;
      this.#c = c;
      this.#since = t;
      return false;
    }
    return t - this.#since >= limitMs;
  }
}

/**
 * What a waiting thread saw of PLOCK's holder: TAIL, and since when (its own clock). A holder with
 * the ring empty and TAIL unchanged for STREAM_STALL_MS (streaming) or HELD_STALL_MS (copying one
 * record) is dead or stuck: it is cut (invariant 4).
 */
export class StallWatch extends Stillness {
  check(core: ChannelCore): void {
    const c = core.c;
    const w = Atomics.load(c, R.PLOCK);
    const tail = Atomics.load(c, R.TAIL);
    if ((w & R.HELD) === 0 || tail !== Atomics.load(c, R.HEAD)) {
      this.forget();
      return;
    }
    const limit = (w & R.STREAMING) !== 0 ? stallLimits.streamMs : stallLimits.heldMs;
    if (this.stoodStill(now(), limit, tail, 0, 0) && cutStream(core, w)) {
      cutStats.stalled++;
      this.forget();
      tryDropCut(core);
    }
  }
}

/**
 * What a thread waiting for CLOCK saw of its holder (byte-ring.ts invariant 7): the holder's word,
 * HEAD and RECVD, and since when (its own clock). The same holder, not receiving a stream, with a
 * record unread and no progress for HELD_STALL_MS was terminated inside that record: CLOCK is
 * freed, by a CAS from the word seen.
 */
export class ClockWatch extends Stillness {
  /** `self`: this thread's consumer id (its own hold is never taken for dead). */
  check(core: ChannelCore, self: number): void {
    const c = core.c;
    const w = Atomics.load(c, R.CLOCK);
    const head = Atomics.load(c, R.HEAD);
    if (w === 0 || w === self || (w & R.CLOCK_STREAM) !== 0 || Atomics.load(c, R.TAIL) === head) {
      this.forget();
      return;
    }
    const recvd = Atomics.load(c, R.RECVD);
    if (this.stoodStill(now(), stallLimits.heldMs, w, head, recvd) && Atomics.compareExchange(c, R.CLOCK, w, 0) === w) {
      cutStats.clockFreed++;
      this.forget();
      ring(core.clw);
    }
  }
}
