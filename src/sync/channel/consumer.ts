/**
 * The receive path of a channel (queue: core.ts; layout: byte-ring.ts).
 *
 * A receive takes CLOCK, reads the record at HEAD if TAIL says one is published, decodes it
 * (plain-coded values and strings straight from the ring when they do not wrap), hands its bytes
 * back (HEAD, then RECVD) and releases CLOCK. A FIRST chunk starts a stream instead
 * (stream.ts), which keeps CLOCK.
 */
import { carriesSabs, decode, Tag } from '../../memory/codec.js';
import { CorruptMemoryError } from '../../memory/errors.js';
import { decodePlain } from '../../memory/plain-decode.js';
import { threadId } from 'node:worker_threads';
import { pause, ring, type Wait } from '../../memory/wait/index.js';
import * as R from './byte-ring.js';
import type { ChannelCore } from './core.js';
import {
  CLOSED_RESULT,
  POLL_SPIN,
  type RecvResult,
  TAKE_BUSY,
  TAKE_EMPTY,
  TAKE_STREAM,
  uninitialized,
} from './message.js';
import { WaitingEntry } from './waiting.js';
import { ClockWatch, dropCut, STALL_POLL_MS } from './cut.js';
import { Step, stepHook } from '../../memory/step-hook.js';
import { StreamIn } from './stream.js';

/** What this thread's consumers store in CLOCK while they hold it (byte-ring.ts invariant 7). */
export const CONSUMER_ID = ((threadId + 1) & (R.CLOCK_STREAM - 1)) || 1;

/** This thread's receiving side of one channel. */
export class ChannelConsumer {
  readonly core: ChannelCore;
  readonly r: R.RingViews;
  readonly c: Int32Array;
  // cache (valid while HEAD is where this thread left it)
  #myHead = -1;
  #tailSeen = 0;
  /**
   * The stream a receive of this thread is reading, from its FIRST chunk to its end (at most one:
   * it holds CLOCK). Several async receives (recv, select) of one thread may wait at once; while
   * one reads a stream the others wait for CLOCK's word, rung when it ends.
   */
  in: StreamIn | undefined;

  constructor(core: ChannelCore) {
    this.core = core;
    this.r = core.r;
    this.c = core.c;
  }

  /** Watches CLOCK's holder while this thread cannot take it (byte-ring.ts invariant 7). */
  readonly watch = new ClockWatch();

  /** Takes CLOCK: true, or false when another consumer holds it. */
  lock(): boolean {
    return Atomics.compareExchange(this.c, R.CLOCK, 0, CONSUMER_ID) === 0;
  }

  /**
   * Releases CLOCK, only if this thread still holds it: one taken for dead after standing still
   * (invariant 7) must not free the next holder's lock when it resumes.
   */
  unlock(): void {
    const w = Atomics.load(this.c, R.CLOCK);
    if ((w & ~R.CLOCK_STREAM) === CONSUMER_ID) Atomics.compareExchange(this.c, R.CLOCK, w, 0);
    ring(this.core.clw);
  }

  /**
   * After a try found CLOCK busy, where the caller will not wait in {@link takeSteps} (tryRecv,
   * select): watches the holder, and frees CLOCK if it stood still (invariant 7).
   */
  watchHolder(): void {
    this.watch.check(this.core, CONSUMER_ID);
  }

  /** Whether CLOCK is free now; else watches its holder, and frees it if it stood still (invariant 7). */
  clockFree(): boolean {
    if (Atomics.load(this.c, R.CLOCK) === 0) return true;
    this.watchHolder();
    return Atomics.load(this.c, R.CLOCK) === 0;
  }

  /** Under CLOCK: HEAD, with TAIL re-read if another consumer moved HEAD or all seemed read. */
  head(): number {
    const head = this.c[R.HEAD];
    if (head !== this.#myHead || head === this.#tailSeen) this.#tailSeen = Atomics.load(this.c, R.TAIL);
    return head;
  }

  /** Under CLOCK: the bytes published after `head`. */
  avail(head: number): number {
    return (this.#tailSeen - head) >>> 0;
  }

  /** Under CLOCK: hands bytes up to `head` back to producers; `msgs` is 1 when a message ended. */
  consume(head: number, msgs: number): void {
    const c = this.c;
    Atomics.store(c, R.HEAD, head);
    this.#myHead = head;
    // dropCut moves HEAD to a TAIL it loaded itself, which may be past this thread's cached bound:
    // left behind HEAD, that bound would make avail() wrap and old bytes be read as records.
    if (((head - this.#tailSeen) | 0) > 0) this.#tailSeen = head;
    if (msgs) Atomics.store(c, R.RECVD, (c[R.RECVD] + 1) | 0);
    ring(this.core.room);
  }

  /**
   * Tries to receive without waiting: a result, or TAKE_EMPTY / TAKE_BUSY, or TAKE_STREAM when a
   * large message started (CLOCK stays held and `this.in` carries on).
   */
  tryTake<T>(stream: boolean): RecvResult<T> | number {
    const c = this.c;
    if (!this.lock()) return TAKE_BUSY;
    let streaming = false;
    try {
      const head = this.head();
      const avail = this.avail(head);
      if (avail === 0) {
        if (stepHook !== undefined) stepHook(Step.ChannelTakeEmpty);
        // PLOCK is read before TAIL: closed and not held means no producer can still publish.
        if (Atomics.load(c, R.PLOCK) === R.CLOSED && Atomics.load(c, R.TAIL) === head) return CLOSED_RESULT;
        // A cut that left nothing in the ring (byte-ring.ts invariant 5). TAIL is read again after
        // CUT: the empty ring was seen before, and whole messages and a stream cut since then may
        // have been published after HEAD; dropCut would drop them all. Once CUT is set TAIL stands
        // still, so TAIL == HEAD now means the cut left nothing to read. Else those records are
        // read first, and the cut stream is dropped when HEAD reaches its FIRST chunk.
        if (Atomics.load(c, R.PLOCK) & R.CUT && Atomics.load(c, R.TAIL) === head) dropCut(this, head);
        return TAKE_EMPTY;
      }
      const r = this.r;
      const word = r.readHeader(head & r.mask, avail);
      const len = r.lastLength;
      const flags = word >>> 8;
      if (flags === R.FIRST) {
        if (Atomics.load(c, R.PLOCK) & R.CUT && Atomics.load(c, R.STREAM_AT) === head) {
          dropCut(this, head); // a cut stream no one began: the last records (invariant 5)
          return TAKE_EMPTY;
        }
        if (!stream) return TAKE_EMPTY;
        this.in = new StreamIn(this, word & 0xff, head, len);
        streaming = true;
        return TAKE_STREAM;
      }
      if (flags !== R.WHOLE) {
        throw new CorruptMemoryError(`channel record at ring offset ${head & r.mask} continues no message`);
      }
      const value = this.#decodeAt((head + R.HEADER) | 0, len, word & 0xff) as T;
      this.consume((head + R.recordBytes(len)) | 0, 1);
      return { ok: true, value };
    } finally {
      if (!streaming) this.unlock();
    }
  }

  /** Under CLOCK: the value of the record whose payload of `len` bytes is at `pos`. */
  #decodeAt(pos: number, len: number, tag: number): unknown {
    const r = this.r;
    const p = pos & r.mask;
    if (tag === Tag.Int32 && len === 4) return r.i32[p >> 2];
    if (tag === Tag.Float64 && len === 8) return r.f64[p >> 3];
    if (p + len <= r.size) {
      // in place: the two encodings whose decoded value keeps none of the bytes
      if (tag === Tag.Plain) return decodePlain(r.buf, p, len);
      if (tag === Tag.String) return r.buf.toString('utf8', p, p + len);
    }
    const bytes = uninitialized(len);
    if (len > 0) r.get(pos, bytes, 0, len);
    return this.decodeBytes(tag, bytes);
  }

  /** Under CLOCK: decodes a whole message's bytes (fetching its SABs if it has some). */
  decodeBytes(tag: number, bytes: Uint8Array): unknown {
    const sabs = carriesSabs(tag) ? this.core.side.take(this.c[R.RECVD]) : null;
    return decode(tag, bytes, sabs);
  }

  /** Whether a receive might succeed now (a hint, read without the lock). */
  dataHint(): boolean {
    const c = this.c;
    return Atomics.load(c, R.TAIL) !== Atomics.load(c, R.HEAD) || Atomics.load(c, R.PLOCK) === R.CLOSED;
  }

  /** The steps of a blocking receive. */
  *takeSteps<T>(): Generator<Wait, RecvResult<T>, undefined> {
    // A rendezvous receive counts itself in WAITING while it waits; its waits end also when a
    // census moved WAITING's epoch, and it counts itself again then (byte-ring.ts invariant 9).
    const waiting = this.core.rendezvous ? new WaitingEntry(this.core) : undefined;
    const moved = (): boolean => waiting !== undefined && waiting.moved();
    // CLOCK free (or freed from a holder that stood still: byte-ring.ts invariant 7)
    const cFree = (): true | undefined => (this.clockFree() || moved() ? true : undefined);
    const data = (): true | undefined => (this.dataHint() || moved() ? true : undefined);
    waiting?.enter();
    try {
      for (;;) {
        waiting?.recount();
        if (this.in) {
          // Another receive of this thread (async) is reading a stream, to its end whatever its
          // limits (byte-ring.ts invariant 8): this one has taken nothing yet, so it waits in its own.
          yield { word: this.core.clw, ready: cFree, timed: true };
          continue;
        }
        const res = this.tryTake<T>(true);
        if (typeof res === 'object') return res;
        if (res === TAKE_STREAM) {
          // From here the message is taken whole, beyond this receive's limits (invariant 8).
          const v = yield* (this.in as unknown as StreamIn).steps<T>();
          if (v) return v;
          continue;
        }
        yield res === TAKE_BUSY
          ? { word: this.core.clw, ready: cFree, timed: true, pollMs: STALL_POLL_MS }
          : { word: this.core.data, ready: data, timed: true };
      }
    } finally {
      waiting?.leave();
    }
  }

  /** Worker fast path of a blocking receive (see ChannelProducer.spinPut). */
  spinTake<T>(polls = POLL_SPIN): RecvResult<T> | undefined {
    for (let k = 0; k < polls; k++) {
      pause();
      if (this.dataHint()) {
        const r = this.tryTake<T>(false);
        if (typeof r === 'object') return r;
      }
    }
    return undefined;
  }
}
