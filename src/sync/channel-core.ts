/**
 * The shared-memory engine of `Channel`: a two-lock queue over a byte ring (layout: byte-ring.ts).
 *
 * Producers serialize among themselves with PLOCK, consumers with CLOCK; a producer and a consumer
 * meet only through TAIL/HEAD, so between the two lock holders it is a single-producer
 * single-consumer ring and an uncontended send or receive costs one CAS for its lock. Locks are
 * held only while bytes move, never while waiting for room or data, so a send or receive that
 * times out or is aborted holds nothing and has written nothing. The exception is a message larger
 * than the ring: it streams as chunks while the sender holds PLOCK and the receiver holds CLOCK
 * (order is kept), and once its first chunk is written it completes without timeout; if the
 * channel is closed meanwhile the sender stops (ChannelClosedError) and the receiver drops the
 * partial message.
 *
 * Each thread keeps lower bounds of the other side's counters (producer: HEAD and RECVD, consumer:
 * TAIL) and reloads them only when they say "full" or "empty", or when another thread of its own
 * side moved since (then the bound may be stale by more than a ring).
 *
 * A rendezvous channel (capacity 0) is a ring of one message whose sender waits until a receiver
 * has taken it; a sender that gives up takes its message back under CLOCK (see {@link retract}).
 */
import { now } from '../memory/clock.js';
import { decode, type Encoded, encodeTransient, payloadLength, Tag } from '../memory/codec.js';
import { CorruptMemoryError, SerializationError } from '../memory/errors.js';
import { decodePlain, plainBuffer, plainWords } from '../memory/plain-codec.js';
import { cpuRelax } from '../memory/spin.js';
import * as R from './byte-ring.js';
import { StreamIn, StreamOut } from './channel-stream.js';
import { POLL_SPIN, pause, ring, sleepSync, type Wait } from './channel-wait.js';
import { ChannelClosedError } from './errors.js';
import { SabSideChannel } from './sab-side-channel.js';

/** What a receive yields: a value, or `{ ok: false }` once the channel is closed and drained. */
export type RecvResult<T> = { ok: true; value: T } | { ok: false };
export const CLOSED_RESULT: { ok: false } = Object.freeze({ ok: false as const });

export const PUT_OK = 0;
export const PUT_FULL = 1;
export const PUT_BUSY = 2;
export const PUT_STREAM = 3;
export const TAKE_EMPTY = 0;
export const TAKE_BUSY = 1;
export const TAKE_STREAM = 2;

/** How long a rendezvous trySend waits for a waiting receiver to take its message. */
const HANDOFF_SPIN_MS = 0.2;

/**
 * A Uint8Array of `n` bytes that the caller fills entirely: no zero-fill (4x faster for 64 KiB),
 * and its own ArrayBuffer (allocUnsafeSlow does not pool), so `bytes.buffer` is exactly the bytes.
 */
export function uninitialized(n: number): Uint8Array {
  const b = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

export function closedError(): ChannelClosedError {
  return new ChannelClosedError('send on a closed channel');
}

export class ChannelCore {
  readonly r: R.RingViews;
  readonly c: Int32Array;
  readonly cap: number;
  readonly rendezvous: boolean;
  readonly #side: SabSideChannel;
  // producer-side caches (valid while TAIL is where this thread left it)
  #myTail = -1;
  #headSeen = 0;
  #recvdSeen = 0;
  // consumer-side cache (valid while HEAD is where this thread left it)
  #myHead = -1;
  #tailSeen = 0;
  /** Sequence number of the last message this thread published. */
  lastSeq = 0;
  /** Streams under way in this thread (at most one each: they hold the locks). */
  out: StreamOut | undefined;
  in: StreamIn | undefined;

  constructor(sab: SharedArrayBuffer, id: string, owner: object) {
    this.r = new R.RingViews(sab);
    this.c = this.r.c;
    this.cap = this.c[R.CAP];
    this.rendezvous = this.c[R.USER_CAP] === 0;
    this.#side = new SabSideChannel(`skein.channel.${id}`, () => Atomics.load(this.c, R.RECVD), owner);
  }

  get closed(): boolean {
    return (Atomics.load(this.c, R.PLOCK) & R.CLOSED) !== 0;
  }

  /** Messages sent and not yet received. */
  get length(): number {
    const n = (Atomics.load(this.c, R.SENT) - Atomics.load(this.c, R.RECVD)) | 0;
    return Math.max(0, Math.min(n, this.rendezvous ? 0 : this.cap));
  }

  close(): void {
    const prev = Atomics.or(this.c, R.PLOCK, R.CLOSED);
    if (prev & R.CLOSED) throw new ChannelClosedError('close of a closed channel');
    ring(this.c, R.DATA);
    ring(this.c, R.ROOM);
    ring(this.c, R.PLW);
    ring(this.c, R.CLW);
  }

  // ---------------------------------------------------------------- producer side

  /** Takes PLOCK: true, or false when another producer holds it; throws once closed. */
  lockP(): boolean {
    const prev = Atomics.compareExchange(this.c, R.PLOCK, 0, R.HELD);
    if (prev === 0) return true;
    if (prev & R.CLOSED) throw closedError();
    return false;
  }

  unlockP(): void {
    const prev = Atomics.sub(this.c, R.PLOCK, R.HELD);
    ring(this.c, R.PLW);
    // A receiver waiting for "closed and drained" or for the rest of a stream needs to see HELD clear.
    if (prev & R.CLOSED) ring(this.c, R.DATA);
  }

  /** Under PLOCK: TAIL, with the caches reloaded if another producer moved it. */
  tailP(): number {
    const tail = this.c[R.TAIL];
    if (tail !== this.#myTail) {
      this.#headSeen = Atomics.load(this.c, R.HEAD);
      this.#recvdSeen = Atomics.load(this.c, R.RECVD);
    }
    return tail;
  }

  /** Under PLOCK: whether the ring already holds CAP messages. */
  fullP(): boolean {
    const c = this.c;
    if (((c[R.SENT] - this.#recvdSeen) | 0) < this.cap) return false;
    this.#recvdSeen = Atomics.load(c, R.RECVD);
    return ((c[R.SENT] - this.#recvdSeen) | 0) >= this.cap;
  }

  /** Under PLOCK: free bytes after `tail` (HEAD is re-read only when fewer than `need` seem free). */
  freeP(tail: number, need: number): number {
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
    ring(c, R.DATA);
  }

  /** Under PLOCK, before the record of a message holding SABs is published. */
  postSabs(enc: Encoded): void {
    if (enc.sabs) this.#side.post(this.c[R.SENT], enc.sabs);
  }

  /**
   * Tries to send one encoded message without waiting. `stream`: a message larger than the ring
   * may start streaming (then PLOCK stays held and `this.out` carries on).
   */
  tryPut(enc: Encoded, stream: boolean): number {
    const plen = payloadLength(enc);
    const rec = R.recordBytes(plen);
    if (this.rendezvous && !this.#offerable(rec, stream)) {
      if (this.closed) throw closedError();
      return PUT_FULL;
    }
    if (!this.lockP()) return PUT_BUSY;
    let res = PUT_FULL;
    try {
      const tail = this.tailP();
      if (this.fullP()) return PUT_FULL;
      const free = this.freeP(tail, rec <= this.r.size ? rec : StreamOut.startNeed(this.r.size));
      if (rec <= this.r.size) {
        if (free >= rec) {
          this.lastSeq = this.c[R.SENT];
          this.postSabs(enc);
          this.#writeWhole(tail, enc, plen);
          this.publish((tail + rec) | 0, 1);
          res = PUT_OK;
        }
      } else if (stream && free >= StreamOut.startNeed(this.r.size)) {
        this.lastSeq = this.c[R.SENT];
        this.postSabs(enc);
        this.out = new StreamOut(this, enc, plen, tail, free);
        res = PUT_STREAM;
      }
    } finally {
      if (res !== PUT_STREAM) this.unlockP();
    }
    return res;
  }

  /**
   * Rendezvous: a blocking send of a message that fits offers it at once (and waits for a taker);
   * a try, or a message that must stream, goes only to a receiver that is waiting now.
   */
  #offerable(rec: number, stream: boolean): boolean {
    return (stream && rec <= this.r.size) || Atomics.load(this.c, R.WAITING) > 0;
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
    if (this.closed) return true;
    if (((Atomics.load(c, R.SENT) - Atomics.load(c, R.RECVD)) | 0) >= this.cap) return false;
    const rec = R.recordBytes(plen);
    if (this.rendezvous && !this.#offerable(rec, true)) return false;
    const need = rec <= this.r.size ? rec : StreamOut.startNeed(this.r.size);
    return this.r.size - ((Atomics.load(c, R.TAIL) - Atomics.load(c, R.HEAD)) >>> 0) >= need;
  }

  /** The steps of a blocking send; `enc` must stay untouched until it ends. */
  *putSteps(enc: Encoded): Generator<Wait, void, undefined> {
    const plen = payloadLength(enc);
    const c = this.c;
    const pFree = (): true | undefined => ((Atomics.load(c, R.PLOCK) & R.HELD) === 0 ? true : undefined);
    const room = (): true | undefined => (this.roomHint(plen) ? true : undefined);
    for (;;) {
      const res = this.tryPut(enc, true);
      if (res === PUT_OK) {
        if (this.rendezvous) yield* this.#handoff(this.lastSeq);
        return;
      }
      if (res === PUT_STREAM) {
        const seq = this.lastSeq;
        yield* (this.out as StreamOut).steps();
        if (this.rendezvous) yield* this.#handoff(seq);
        return;
      }
      yield res === PUT_BUSY
        ? { at: R.PLW, ready: pFree, timed: true }
        : { at: R.ROOM, ready: room, timed: true };
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
      if (this.roomHint(plen) && !this.closed && this.tryPut(enc, false) === PUT_OK) return true;
    }
    return false;
  }

  /** Worker fast path of a blocking receive (see {@link spinPut}). */
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

  /** Whether message `seq` has been received (or taken back). */
  taken(seq: number): boolean {
    return ((Atomics.load(this.c, R.RECVD) - seq) | 0) > 0;
  }

  /** Rendezvous: waits until a receiver took message `seq`; takes it back on timeout, abort or close. */
  *#handoff(seq: number): Generator<Wait, void, undefined> {
    const done = (): true | undefined => (this.taken(seq) || this.closed ? true : undefined);
    try {
      yield { at: R.ROOM, ready: done, timed: true };
    } catch (err) {
      if (this.retract(seq)) throw err;
      return;
    }
    if (!this.taken(seq) && this.retract(seq)) throw closedError();
  }

  /** Rendezvous trySend: offers to a waiting receiver and spins briefly for it to take the message. */
  tryHandoff(enc: Encoded): boolean {
    if (this.tryPut(enc, false) !== PUT_OK) return false;
    const seq = this.lastSeq;
    const until = now() + HANDOFF_SPIN_MS;
    for (let i = 0; !this.taken(seq); i++) {
      if ((i & 255) === 255 && now() > until) return !this.retract(seq);
      cpuRelax();
    }
    return true;
  }

  /**
   * Takes back rendezvous message `seq` if no receiver has taken it; returns whether it did.
   * With CAP = 1 and `seq` not received, that message is the only record in the ring, so under
   * CLOCK moving HEAD to TAIL and counting it received removes exactly it. CLOCK is held by
   * receivers only while they copy a record, so waiting for it is short.
   */
  retract(seq: number): boolean {
    const c = this.c;
    for (;;) {
      if (this.taken(seq)) return false;
      if (Atomics.compareExchange(c, R.CLOCK, 0, 1) === 0) {
        const mine = !this.taken(seq);
        if (mine) {
          Atomics.store(c, R.HEAD, Atomics.load(c, R.TAIL));
          Atomics.store(c, R.RECVD, (seq + 1) | 0);
          this.#side.forget(seq);
        }
        this.unlockC();
        ring(c, R.ROOM);
        return mine;
      }
      const free = (): true | undefined =>
        Atomics.load(c, R.CLOCK) === 0 || this.taken(seq) ? true : undefined;
      sleepSync(c, R.CLW, free, Number.POSITIVE_INFINITY, undefined, 'Channel.retract');
    }
  }

  // ---------------------------------------------------------------- consumer side

  unlockC(): void {
    Atomics.store(this.c, R.CLOCK, 0);
    ring(this.c, R.CLW);
  }

  /** Under CLOCK: HEAD and the bytes published after it. */
  headC(): number {
    const head = this.c[R.HEAD];
    if (head !== this.#myHead || head === this.#tailSeen) this.#tailSeen = Atomics.load(this.c, R.TAIL);
    return head;
  }

  availC(head: number): number {
    return (this.#tailSeen - head) >>> 0;
  }

  /** Under CLOCK: hands bytes up to `head` back to producers; `msgs` is 1 when a message ended. */
  consume(head: number, msgs: number): void {
    const c = this.c;
    Atomics.store(c, R.HEAD, head);
    this.#myHead = head;
    if (msgs) Atomics.store(c, R.RECVD, (c[R.RECVD] + 1) | 0);
    ring(c, R.ROOM);
  }

  /**
   * Tries to receive without waiting: a result, or TAKE_EMPTY / TAKE_BUSY, or TAKE_STREAM when a
   * large message started (CLOCK stays held and `this.in` carries on).
   */
  tryTake<T>(stream: boolean): RecvResult<T> | number {
    const c = this.c;
    if (Atomics.compareExchange(c, R.CLOCK, 0, 1) !== 0) return TAKE_BUSY;
    let streaming = false;
    try {
      const head = this.headC();
      const avail = this.availC(head);
      if (avail === 0) {
        // PLOCK is read before TAIL: closed and not held means no producer can still publish.
        if (Atomics.load(c, R.PLOCK) === R.CLOSED && Atomics.load(c, R.TAIL) === head) return CLOSED_RESULT;
        return TAKE_EMPTY;
      }
      const r = this.r;
      const word = r.readHeader(head & r.mask, avail);
      const len = r.lastLength;
      const flags = word >>> 8;
      if (flags === R.FIRST) {
        if (!stream) return TAKE_EMPTY;
        this.in = new StreamIn(this, word & 0xff, head, len);
        streaming = true;
        return TAKE_STREAM;
      }
      if (flags !== R.WHOLE) {
        throw new CorruptMemoryError(`channel record at ring offset ${head & r.mask} continues no message`);
      }
      const value = this.decodeAt((head + R.HEADER) | 0, len, word & 0xff) as T;
      this.consume((head + R.recordBytes(len)) | 0, 1);
      return { ok: true, value };
    } finally {
      if (!streaming) this.unlockC();
    }
  }

  /** Under CLOCK: the value of the record whose payload of `len` bytes is at `pos`. */
  decodeAt(pos: number, len: number, tag: number): unknown {
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
    const sabs = tag === Tag.V8Shared ? this.#side.take(this.c[R.RECVD]) : null;
    return decode(tag, bytes, sabs);
  }

  /** Whether a receive might succeed now (a hint, read without the lock). */
  dataHint(): boolean {
    const c = this.c;
    return Atomics.load(c, R.TAIL) !== Atomics.load(c, R.HEAD) || Atomics.load(c, R.PLOCK) === R.CLOSED;
  }

  /** The steps of a blocking receive. */
  *takeSteps<T>(): Generator<Wait, RecvResult<T>, undefined> {
    const c = this.c;
    const cFree = (): true | undefined => (Atomics.load(c, R.CLOCK) === 0 ? true : undefined);
    const data = (): true | undefined => (this.dataHint() ? true : undefined);
    if (this.rendezvous) {
      Atomics.add(c, R.WAITING, 1);
      ring(c, R.ROOM);
    }
    try {
      for (;;) {
        const res = this.tryTake<T>(true);
        if (typeof res === 'object') return res;
        if (res === TAKE_STREAM) {
          const v = yield* (this.in as StreamIn).steps<T>();
          if (v) return v;
          continue;
        }
        yield res === TAKE_BUSY
          ? { at: R.CLW, ready: cFree, timed: true }
          : { at: R.DATA, ready: data, timed: true };
      }
    } finally {
      if (this.rendezvous) Atomics.sub(c, R.WAITING, 1);
    }
  }
}

/**
 * Encodes a message into `out` (codec.ts's `encodeTransient`: a plain-coded message's bytes are
 * valid only until the next message is encoded; a send that waits keeps `ownEncoded`). Throws
 * SerializationError for an uncloneable or too large value.
 */
export function encodeMessage(value: unknown, out: Encoded): Encoded {
  const e = encodeTransient(value, out);
  if (payloadLength(e) > R.MAX_MESSAGE) {
    throw new SerializationError(
      `a channel message may be at most ${R.MAX_MESSAGE} bytes encoded, got ${payloadLength(e)}`,
    );
  }
  return e;
}
