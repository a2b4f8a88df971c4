/**
 * The send path of a channel (queue: core.ts; layout: byte-ring.ts).
 *
 * A send takes PLOCK, checks the message count against CAP and the bytes after TAIL against the
 * record, writes the record with plain stores, publishes it (SENT, then TAIL) and releases PLOCK.
 * A message larger than the ring starts a stream instead (stream.ts), which keeps PLOCK.
 */
import { type Encoded, payloadLength, Tag } from '../../memory/codec.js';
import { CorruptMemoryError } from '../../memory/errors.js';
import { plainBuffer, plainWords } from '../../memory/plain-encode.js';
import { pause, ring, type Wait } from '../../memory/wait/index.js';
import * as R from './byte-ring.js';
import type { ChannelCore } from './core.js';
import { closedError, POLL_SPIN, PUT_BUSY, PUT_FULL, PUT_OK, PUT_STREAM } from './message.js';
import { handoff, offerable } from './rendezvous.js';
import { ownsStream, STALL_POLL_MS, StallWatch, tryDropCut } from './cut.js';
import { StreamOut } from './stream.js';

/** This thread's sending side of one channel. */
export class ChannelProducer {
  readonly core: ChannelCore;
  readonly r: R.RingViews;
  readonly c: Int32Array;
  readonly cap: number;
  readonly rendezvous: boolean;
  // caches (valid while TAIL is where this thread left it)
  #myTail = -1;
  #headSeen = 0;
  #recvdSeen = 0;
  /** Watches PLOCK's holder for {@link watchHolder}. */
  readonly #watch = new StallWatch();
  /** Sequence number of the last message this thread published. */
  lastSeq = 0;
  /** The stream this thread is sending (at most one: it holds PLOCK). */
  out: StreamOut | undefined;

  constructor(core: ChannelCore) {
    this.core = core;
    this.r = core.r;
    this.c = core.c;
    this.cap = core.cap;
    this.rendezvous = core.rendezvous;
  }

  /**
   * Takes PLOCK: true, or false when another producer holds it; throws once closed, and on a word no
   * producer writes (which would never free, while the waiter's readiness test, which looks at HELD
   * and CUT only, saw it free: a loop that never parked and so never timed out).
   */
  lock(): boolean {
    const prev = Atomics.compareExchange(this.c, R.PLOCK, 0, R.HELD);
    if (prev === 0) return true;
    if (prev & R.CLOSED) throw closedError();
    if ((prev & ~R.PLOCK_BITS) !== 0 || (prev & (R.HELD | R.STREAMING)) === R.STREAMING) {
      throw new CorruptMemoryError(`channel producer lock word is corrupt (0x${(prev >>> 0).toString(16)})`);
    }
    return false;
  }

  unlock(): void {
    this.#released(Atomics.and(this.c, R.PLOCK, ~(R.HELD | R.STREAMING)));
  }

  /** Wakes who waits on PLOCK's release, given the word `prev` it had before. */
  #released(prev: number): void {
    ring(this.core.plw);
    // A receiver waiting for "closed and drained" or for the rest of a stream needs to see HELD clear.
    if (prev & R.CLOSED) ring(this.core.data);
  }

  /**
   * Releases PLOCK for the stream whose FIRST chunk is at `at`, if it still holds it: a sender cut
   * for standing still (invariant 4) may resume after the lock passed on, and must not release (or
   * cut) the next holder's lock. True if it released.
   */
  unlockStream(at: number): boolean {
    for (;;) {
      const w = Atomics.load(this.c, R.PLOCK);
      if (!ownsStream(this.c, w, at)) return false;
      if (Atomics.compareExchange(this.c, R.PLOCK, w, w & ~(R.HELD | R.STREAMING)) !== w) continue;
      this.#released(w);
      return true;
    }
  }

  /**
   * After a try found PLOCK held, where the caller does not wait in {@link putSteps} (select):
   * watches the holder and cuts it if it stood still, and drops a cut stream it can (byte-ring.ts
   * invariants 4, 5), as putSteps's wait does.
   */
  watchHolder(): void {
    this.#watch.check(this.core);
    tryDropCut(this.core);
  }

  /** Under PLOCK: TAIL, with the caches reloaded if another producer moved it. */
  tail(): number {
    const tail = this.c[R.TAIL];
    if (tail !== this.#myTail) {
      this.#headSeen = Atomics.load(this.c, R.HEAD);
      this.#recvdSeen = Atomics.load(this.c, R.RECVD);
    }
    return tail;
  }

  /** Under PLOCK: whether the ring already holds CAP messages. */
  full(): boolean {
    const c = this.c;
    if (((c[R.SENT] - this.#recvdSeen) | 0) < this.cap) return false;
    this.#recvdSeen = Atomics.load(c, R.RECVD);
    return ((c[R.SENT] - this.#recvdSeen) | 0) >= this.cap;
  }

  /** Under PLOCK: free bytes after `tail` (HEAD is re-read only when fewer than `need` seem free). */
  free(tail: number, need: number): number {
    const size = this.r.size;
    let free = size - ((tail - this.#headSeen) >>> 0);
    if (free < need) {
      this.#headSeen = Atomics.load(this.c, R.HEAD);
      free = size - ((tail - this.#headSeen) >>> 0);
    }
    return free;
  }

  /** Under PLOCK: publishes everything up to `tail`; `msgs` is 1 when a new message began. */
  publish(tail: number, msgs: number): void {
    const c = this.c;
    if (msgs) Atomics.store(c, R.SENT, (c[R.SENT] + 1) | 0);
    Atomics.store(c, R.TAIL, tail);
    this.#myTail = tail;
    ring(this.core.data);
  }

  /** Under PLOCK, before the record of a message holding SABs is published. */
  postSabs(enc: Encoded): void {
    if (enc.sabs) this.core.side.post(this.c[R.SENT], enc.sabs);
  }

  /**
   * Tries to send one encoded message without waiting. `stream`: a message larger than the ring
   * may start streaming (then PLOCK stays held and `this.out` carries on).
   */
  tryPut(enc: Encoded, stream: boolean): number {
    const plen = payloadLength(enc);
    const rec = R.recordBytes(plen);
    if (this.rendezvous && !offerable(this, rec, stream)) {
      if (this.core.closed) throw closedError();
      return PUT_FULL;
    }
    if (!this.lock()) return PUT_BUSY;
    let res = PUT_FULL;
    try {
      const tail = this.tail();
      if (this.full()) return PUT_FULL;
      const size = this.r.size;
      const free = this.free(tail, rec <= size ? rec : StreamOut.startNeed(size));
      if (rec <= size) {
        if (free >= rec) {
          this.lastSeq = this.c[R.SENT];
          this.postSabs(enc);
          this.#writeWhole(tail, enc, plen);
          this.publish((tail + rec) | 0, 1);
          res = PUT_OK;
        }
      } else if (stream && free >= StreamOut.startNeed(size)) {
        this.lastSeq = this.c[R.SENT];
        this.postSabs(enc);
        this.out = new StreamOut(this, enc, plen, tail, free);
        // Only now may a stall cut it (invariant 4): the first chunk is published, and every later
        // chunk checks for the cut first.
        Atomics.or(this.c, R.PLOCK, R.STREAMING);
        res = PUT_STREAM;
      }
    } finally {
      if (res !== PUT_STREAM) this.unlock();
    }
    return res;
  }

  #writeWhole(tail: number, enc: Encoded, plen: number): void {
    const r = this.r;
    r.writeHeader(tail & r.mask, plen, enc.tag, R.WHOLE);
    const p = (tail + R.HEADER) & r.mask;
    if (enc.tag === Tag.Int32) r.i32[p >> 2] = enc.num;
    else if (enc.tag === Tag.Float64) r.f64[p >> 3] = enc.num;
    else if (enc.bytes === plainBuffer()) r.putWords(p, plainWords(), plen);
    else if (plen > 0) r.put(p, enc.bytes as Uint8Array, 0, plen);
  }

  /** Whether a blocking send of `plen` payload bytes might go through now (a hint, read without the lock). */
  roomHint(plen: number): boolean {
    const c = this.c;
    if (this.core.closed) return true;
    if (((Atomics.load(c, R.SENT) - Atomics.load(c, R.RECVD)) | 0) >= this.cap) return false;
    const rec = R.recordBytes(plen);
    if (this.rendezvous && !offerable(this, rec, true)) return false;
    const need = rec <= this.r.size ? rec : StreamOut.startNeed(this.r.size);
    return this.r.size - ((Atomics.load(c, R.TAIL) - Atomics.load(c, R.HEAD)) >>> 0) >= need;
  }

  /** The steps of a blocking send; `enc` must stay untouched until it ends. */
  *putSteps(enc: Encoded): Generator<Wait, void, undefined> {
    const plen = payloadLength(enc);
    const c = this.c;
    // PLOCK is free when neither held nor cut; a waiter also watches a holder that stands still,
    // and drops a cut stream it can (byte-ring.ts invariants 4, 5).
    const watch = new StallWatch();
    const pFree = (): true | undefined => {
      if ((Atomics.load(c, R.PLOCK) & (R.HELD | R.CUT)) === 0) return true;
      watch.check(this.core);
      tryDropCut(this.core);
      return (Atomics.load(c, R.PLOCK) & (R.HELD | R.CUT)) === 0 ? true : undefined;
    };
    const room = (): true | undefined => (this.roomHint(plen) ? true : undefined);
    for (;;) {
      const res = this.tryPut(enc, true);
      if (res === PUT_OK || res === PUT_STREAM) {
        const seq = this.lastSeq;
        if (res === PUT_STREAM) yield* (this.out as StreamOut).steps();
        if (this.rendezvous) yield* handoff(this, seq);
        return;
      }
      yield res === PUT_BUSY
        ? { word: this.core.plw, ready: pFree, timed: true, pollMs: STALL_POLL_MS }
        : { word: this.core.room, ready: room, timed: true };
    }
  }

  /**
   * Worker fast path of a blocking send: polls for room a few µs, so a sender that is just ahead
   * of its receiver does not pay for a generator and a sleep per message. True once sent.
   */
  spinPut(enc: Encoded, polls = POLL_SPIN): boolean {
    const plen = payloadLength(enc);
    for (let k = 0; k < polls; k++) {
      pause();
      if (this.roomHint(plen) && !this.core.closed && this.tryPut(enc, false) === PUT_OK) return true;
    }
    return false;
  }
}
