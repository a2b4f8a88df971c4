/**
 * Messages larger than a channel's ring, moved as a stream of chunk records (layout: byte-ring.ts).
 *
 * The sender holds PLOCK from its FIRST chunk to its LAST, the receiver holds CLOCK from reading
 * the FIRST to reading the LAST, so no other message can interleave and order is kept. Chunks are
 * written as room appears, at least a quarter of the ring at a time (or the rest of the message),
 * so a 16 MiB message crosses a 4 KiB ring in about 5000 chunks with both threads busy.
 *
 * A sender's waits honour its timeout and signal (byte-ring.ts invariants 3-6): a sender that
 * times out, is aborted, or finds the channel closed while it waits for room stops and cuts its
 * stream (CUT replaces HELD). A receiver's waits do not: once it has read the FIRST chunk it takes
 * the whole message (invariant 8), so its wait for chunks is bounded by the sender. A receiver
 * that finds no more chunks while PLOCK is not held knows the rest will never come and drops the
 * partial message (counting it as received, so the counts stay balanced), clearing CUT; while it
 * waits it watches the sender, and cuts a stream whose sender stood still for STREAM_STALL_MS
 * (killed while streaming).
 */

import type { Encoded } from '../../memory/codec.js';
import { CorruptMemoryError } from '../../memory/errors.js';
import type { Wait } from '../../memory/wait/index.js';
import * as R from './byte-ring.js';
import type { ChannelConsumer } from './consumer.js';
import { type RecvResult, uninitialized } from './message.js';
import type { ChannelProducer } from './producer.js';
import { ChannelClosedError, ChannelStreamCutError } from '../errors.js';
import { cutOwnStream, ownsStream, STALL_POLL_MS, StallWatch } from './cut.js';
import { ring } from '../../memory/wait/index.js';
import { censusWaiting } from './waiting.js';
import { Step, stepHook } from '../../memory/step-hook.js';

const NEED = 0;
const ABANDONED = 1;

function cutError(): ChannelStreamCutError {
  return new ChannelStreamCutError(
    `the send stood still for over ${R.STREAM_STALL_MS} ms and was cut by another thread; the message was not delivered`,
  );
}

function corrupt(what: string): CorruptMemoryError {
  return new CorruptMemoryError(`channel stream is corrupt: ${what}`);
}

export class StreamOut {
  /** Free bytes a stream waits for before writing its next chunk (unless the rest is smaller). */
  static startNeed(size: number): number {
    return size / 4;
  }

  readonly #p: ChannelProducer;
  readonly #src: Uint8Array;
  readonly #total: number;
  readonly #tag: number;
  /** Where this stream's FIRST chunk is (STREAM_AT while it is the stream being sent). */
  readonly #at: number;
  #done: number;

  /** Under PLOCK, with `free` >= startNeed bytes after `tail`: writes the FIRST chunk. */
  constructor(p: ChannelProducer, enc: Encoded, total: number, tail: number, free: number) {
    this.#p = p;
    this.#src = enc.bytes as Uint8Array;
    this.#total = total;
    this.#tag = enc.tag;
    const r = p.r;
    const n = Math.min(total, (free - R.HEADER - R.STREAM_PREFIX) & ~7);
    this.#at = tail;
    Atomics.store(p.c, R.STREAM_AT, tail);
    r.writeHeader(tail & r.mask, n + R.STREAM_PREFIX, this.#tag, R.FIRST);
    const w = ((tail + R.HEADER) & r.mask) >> 2;
    r.i32[w] = total;
    r.i32[w + 1] = 0;
    r.put((tail + R.HEADER + R.STREAM_PREFIX) | 0, this.#src, 0, n);
    p.publish((tail + R.recordBytes(n + R.STREAM_PREFIX)) | 0, 1);
    this.#done = n;
  }

  #need(): number {
    return Math.min(R.recordBytes(this.#total - this.#done), StreamOut.startNeed(this.#p.r.size));
  }

  /** Whether this stream still holds PLOCK (no thread cut it for standing still). */
  #owned(): boolean {
    return ownsStream(this.#p.c, Atomics.load(this.#p.c, R.PLOCK), this.#at);
  }

  /**
   * Before the LAST chunk is published: turns this stream's hold on PLOCK into a plain holder's
   * (clears STREAMING, keeps HELD) by one CAS from a word it owns. False if a cut landed first: then
   * the LAST must not be published, and the send reports the cut. Once it is done, a thread that
   * sees the sender stand still applies HELD_STALL_MS, not STREAM_STALL_MS (invariant 4).
   */
  #commit(): boolean {
    const c = this.#p.c;
    for (;;) {
      const w = Atomics.load(c, R.PLOCK);
      if (!ownsStream(c, w, this.#at)) return false;
      // It fails also when CLOSED was set since the load: read again.
      if (Atomics.compareExchange(c, R.PLOCK, w, w & ~R.STREAMING) === w) return true;
    }
  }

  /** Under PLOCK: writes chunks while there is room; true once the LAST is published and PLOCK released. */
  #pump(): boolean {
    const p = this.#p;
    const r = p.r;
    for (;;) {
      // Cut by a thread that took this sender for dead (it stood still too long): stop writing. The
      // lock may have passed to another sender since, so it must still be a stream, this one.
      if (!this.#owned()) throw cutError();
      const tail = p.tail();
      const need = this.#need();
      const free = p.free(tail, need);
      if (free < need) return false;
      const rest = this.#total - this.#done;
      const n = Math.min(rest, (free - R.HEADER) & ~7);
      r.writeHeader(tail & r.mask, n, this.#tag, n === rest ? R.LAST : R.MORE);
      r.put((tail + R.HEADER) | 0, this.#src, this.#done, n);
      // Again before publishing: a stall inside the copy (a large chunk) may have been taken for
      // death, and then this chunk must not be published. It narrows the exposure but cannot close
      // it: the copy itself may already have written over the next producer's record (invariant 4).
      if (!this.#owned()) throw cutError();
      if (stepHook !== undefined) stepHook(Step.ChannelStreamPublish);
      if (n === rest) {
        // The LAST chunk: a check and then a publish would let a cut land between them, and the
        // send report success for a message whose receiver dropped it (invariant 4). The CAS decides:
        // cut first, nothing is published; committed first, no stream cut can land any more.
        if (!this.#commit()) throw cutError();
        p.publish((tail + R.recordBytes(n)) | 0, 0);
        this.#done += n;
        p.unlock(); // after TAIL (invariant 2)
        return true;
      }
      p.publish((tail + R.recordBytes(n)) | 0, 0);
      this.#done += n;
    }
  }

  /**
   * The rest of the stream, within the caller's timeout and signal: releases PLOCK when it ends,
   * cuts the stream when it times out, is aborted or finds the channel closed (invariants 4, 6).
   */
  *steps(): Generator<Wait, void, undefined> {
    const p = this.#p;
    const room = (): true | undefined =>
      p.core.closed || p.free(p.tail(), this.#need()) >= this.#need() ? true : undefined;
    let release = true;
    try {
      while (!this.#pump()) {
        if (p.core.closed) {
          // Cut, not just released (invariant 6): a FIRST chunk no receiver began would otherwise
          // stay at HEAD, and tryRecv() would see it forever instead of "closed".
          release = false;
          cutOwnStream(p.core, this.#at);
          throw new ChannelClosedError(
            'the channel was closed while a message was being sent; the message was not delivered',
          );
        }
        try {
          yield { word: p.core.room, ready: room, timed: true };
        } catch (err) {
          release = false;
          // A rendezvous stream starts only while WAITING counts a receiver: one whose FIRST chunk
          // no receiver began within the send's limits was offered to nobody live, and holds a
          // census of WAITING (byte-ring.ts invariant 9).
          const untaken = p.rendezvous && Atomics.load(p.c, R.HEAD) === this.#at;
          cutOwnStream(p.core, this.#at);
          if (untaken) censusWaiting(p.core);
          throw err;
        }
      }
      release = false; // #pump released PLOCK with the LAST chunk
    } catch (err) {
      if (err instanceof ChannelStreamCutError) release = false;
      throw err;
    } finally {
      p.out = undefined;
      // Only its own lock: one cut while it stood still has passed PLOCK on (invariant 4).
      if (release) p.unlockStream(this.#at);
    }
  }
}

export class StreamIn {
  readonly #q: ChannelConsumer;
  readonly #tag: number;
  readonly #bytes: Uint8Array;
  #got: number;

  /** Under CLOCK: reads the FIRST chunk (`len` payload bytes) at `head`. */
  constructor(q: ChannelConsumer, tag: number, head: number, len: number) {
    this.#q = q;
    this.#tag = tag;
    const r = q.r;
    const p = ((head + R.HEADER) & r.mask) >> 2;
    const total = r.i32[p];
    const n = len - R.STREAM_PREFIX;
    if (n < 0 || r.i32[p + 1] !== 0 || total <= r.size - R.HEADER || total > R.MAX_MESSAGE || n > total) {
      throw corrupt(`first chunk of ${len} bytes announces a message of ${total} bytes`);
    }
    this.#bytes = uninitialized(total);
    // A stream's receiver may hold CLOCK for long: never taken for dead (byte-ring.ts invariant 7).
    Atomics.or(q.c, R.CLOCK, R.CLOCK_STREAM);
    r.get((head + R.HEADER + R.STREAM_PREFIX) | 0, this.#bytes, 0, n);
    this.#got = n;
    q.consume((head + R.recordBytes(len)) | 0, 0);
  }

  /** Under CLOCK: reads the chunks that are there; the result at the LAST. */
  #pump<T>(): RecvResult<T> | number {
    const q = this.#q;
    const r = q.r;
    for (;;) {
      let head = q.head();
      let avail = q.avail(head);
      if (avail === 0) {
        // HELD is read before TAIL is re-read: a sender that released PLOCK published all it wrote.
        if ((Atomics.load(q.c, R.PLOCK) & R.HELD) !== 0) return NEED;
        if (Atomics.load(q.c, R.PLOCK) & R.CUT) {
          // Cut: nothing more comes after TAIL (invariant 4).
          head = q.head();
          if (q.avail(head) === 0) return ABANDONED;
        }
        head = q.head();
        avail = q.avail(head);
        if (avail === 0) return ABANDONED;
      }
      const word = r.readHeader(head & r.mask, avail);
      const len = r.lastLength;
      const flags = word >>> 8;
      if (flags !== R.MORE && flags !== R.LAST) throw corrupt(`expected a chunk, found flags ${flags}`);
      if (this.#got + len > this.#bytes.byteLength) throw corrupt('chunks run past the announced size');
      r.get((head + R.HEADER) | 0, this.#bytes, this.#got, len);
      this.#got += len;
      const next = (head + R.recordBytes(len)) | 0;
      if (flags === R.LAST) {
        if (this.#got !== this.#bytes.byteLength) throw corrupt('the last chunk came before the end');
        const value = q.decodeBytes(this.#tag, this.#bytes) as T;
        q.consume(next, 1);
        return { ok: true, value };
      }
      q.consume(next, 0);
    }
  }

  /** Watches the sender while this receiver waits for chunks (a dead one is cut: invariant 4). */
  readonly #watch = new StallWatch();

  /**
   * The rest of the stream: its value, or undefined when the sender gave up (CUT cleared:
   * invariant 5). Either way CLOCK is released. Its waits ignore the caller's timeout and signal
   * (byte-ring.ts invariant 8): the sender's limits and the stall watch bound them.
   */
  *steps<T>(): Generator<Wait, RecvResult<T> | undefined, undefined> {
    const q = this.#q;
    const c = q.c;
    const more = (): true | undefined => {
      if (Atomics.load(c, R.TAIL) !== Atomics.load(c, R.HEAD) || (Atomics.load(c, R.PLOCK) & R.HELD) === 0)
        return true;
      this.#watch.check(q.core);
      return (Atomics.load(c, R.PLOCK) & R.HELD) === 0 ? true : undefined;
    };
    try {
      for (;;) {
        const res = this.#pump<T>();
        if (typeof res === 'object') return res;
        if (res === ABANDONED) {
          q.consume(q.head(), 1);
          if (Atomics.load(c, R.PLOCK) & R.CUT) {
            Atomics.and(c, R.PLOCK, ~R.CUT);
            ring(q.core.plw);
          }
          return undefined;
        }
        // Untimed (invariant 8): the FIRST is consumed, so a receive that gave up here would hold
        // CLOCK with a part no other receiver can read.
        yield { word: q.core.data, ready: more, timed: false, pollMs: STALL_POLL_MS };
      }
    } finally {
      q.in = undefined;
      q.unlock();
    }
  }
}
