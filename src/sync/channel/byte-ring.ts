/**
 * The shared memory of a `Channel`: a control block of Int32 slots, then a byte ring of records.
 *
 * One SharedArrayBuffer: bytes [0, DATA_OFFSET) are the control block, [DATA_OFFSET, +size) the
 * ring (`size` a power of two). Slots sit in 128-byte lines (two cache lines: Intel prefetches
 * pairs) grouped by who writes them and who polls them, so that a consumer polling for data reads
 * a line the producer writes once per message, and nothing else of the producer's:
 *
 *   line 0 (read-mostly)
 *     0  CAP        messages the ring may hold (1 for a rendezvous channel)
 *     1  USER_CAP   capacity as given (0 = rendezvous)
 *     2  SIZE       ring bytes (power of two)
 *     3  WAITING    receivers now waiting in recv/select (a rendezvous send is ready only then):
 *                   a count (low 16 bits) and an epoch (high 16 bits), invariant 9
 *     4  BELL       id of the bell (memory/wait/bell.ts) of the thread that made the channel
 *     5  FOREIGN    1 once a thread with another bell has opened the channel (never cleared): its
 *                   writes do not ring the bell, so a selectSync must not sleep on it (select-wait.ts)
 *   line 1: published by the producer, polled by consumers
 *     32 TAIL       byte position after the last published record (u32, wraps)
 *   line 2: published by the consumer, read by producers when they seem full
 *     64 HEAD       byte position of the oldest unread record (u32, wraps)
 *     65 RECVD      messages fully read (u32, wraps)
 *   line 3: producers only
 *     96 PLOCK      bit 0 HELD: a producer owns TAIL/SENT; bit 1 CLOSED: the channel is closed;
 *                   bit 2 CUT: a stream was cut short (see "Close, drain and cut" below);
 *                   bit 3 STREAMING: the holder is sending a stream (set only while HELD)
 *     97 SENT       messages published (u32, wraps); also the sequence number of the next one
 *     98 STREAM_AT  byte position of the FIRST chunk of the stream being sent (or last sent)
 *   line 4: consumers only
 *     128 CLOCK     0 free, else the id of the consumer that owns HEAD/RECVD (its thread's
 *                   threadId + 1), with bit 30 CLOCK_STREAM set while it receives a stream
 *   wait words (memory/wait/word.ts: belled words, five slots each, the fifth BELLED; writers
 *   ring()), one line each
 *     160 DATA      rung by producers: record published, stream given up, close
 *     192 ROOM      rung by consumers: record consumed; also close, a receiver starting to wait
 *     224 PLW       rung when a producer releases PLOCK (and on close)
 *     256 CLW       rung when a consumer releases CLOCK
 *
 * Why CLOSED lives in the producer lock word: a producer takes the lock with CAS(0 -> HELD), which
 * fails once CLOSED is set, and it publishes TAIL before it clears HELD. So a consumer that reads
 * PLOCK === CLOSED (closed, not held) and then TAIL == HEAD knows that no message can still appear:
 * "closed and drained" is exact, never "drained, then one more message arrives".
 *
 * Close, drain and cut. Invariants, cited as "byte-ring.ts invariant N":
 * 1. CLOSED is set once (close) and never cleared; a producer's lock CAS(0 -> HELD) fails once any
 *    other bit is set, so after CLOSED no new message starts.
 * 2. A producer publishes TAIL before it clears HELD; so PLOCK read without HELD, then TAIL == HEAD,
 *    means nothing more can appear from the producers that held it: "closed and drained" is
 *    PLOCK === CLOSED and TAIL == HEAD, read in that order.
 * 3. A stream (a message larger than the ring) holds PLOCK from its FIRST chunk to its LAST, and its
 *    receiver holds CLOCK from reading the FIRST to reading the LAST, so chunks never interleave.
 * 4. A stream that ends early is cut: its sender (timeout, abort) or a thread that saw it stand
 *    still (HELD and STREAMING, TAIL unchanged, the ring empty, for STREAM_STALL_MS: its sender is
 *    dead) replaces HELD and STREAMING by CUT in one CAS. From then on no producer can lock
 *    (invariant 1) until CUT is cleared, so the cut stream's chunks are the last records in the
 *    ring, from STREAM_AT to TAIL. A holder that is not streaming holds PLOCK only for the few
 *    stores of one record and never waits while holding it: it is cut only after HELD_STALL_MS
 *    (a thread terminated inside those stores), since a live holder taken for dead would write into
 *    space the next producer is given (see STREAM_STALL_MS). A cut sender that was alive after all
 *    checks that it still owns PLOCK (HELD and STREAMING, no CUT, STREAM_AT its FIRST) before each
 *    chunk and again before publishing it, and releases or cuts PLOCK only while it owns it, so it
 *    never frees or cuts the lock of the producer after it. A check and a publish are two steps, and
 *    a cut may land between them: so the LAST chunk is published only after one CAS from a word the
 *    sender owns clears STREAMING (HELD stays). A cut that landed first makes the CAS fail: the LAST
 *    is never published and the send reports the cut (its receiver drops the part it has, as in 5).
 *    Once the CAS is done the sender is a holder that is not streaming (cut only after HELD_STALL_MS)
 *    and publishes TAIL, then releases PLOCK (invariant 2). So a send that reports success published
 *    its LAST while it held the lock, and a cut send published no LAST. (Another chunk published by
 *    a sender cut between its check and its publish is left past the cut, and its send fails at the
 *    next check; like a stall inside the copy, this is the exposure STREAM_STALL_MS bounds.)
 * 5. CUT is cleared, under CLOCK, only by whoever drops the cut stream's records: a receiver in the
 *    middle of it (it drops its partial message when TAIL == HEAD and HELD is clear), or a consumer
 *    whose HEAD reaches STREAM_AT (it moves HEAD to TAIL). Either counts the message as received
 *    (RECVD + 1), so SENT - RECVD stays the number of messages in the ring. A consumer that found
 *    the ring empty reads TAIL again after it sees CUT, and drops only if TAIL is still HEAD: TAIL
 *    stands still once CUT is set, but whole messages may have been published between its first
 *    read and CUT, and moving HEAD to TAIL would drop them too.
 * 6. close() sets CLOSED and rings every word; a sender waiting for room sees CLOSED and cuts its
 *    stream as in 4 (ChannelClosedError); a receiver mid-stream drops its part as in 5.
 * 7. A consumer that is not receiving a stream holds CLOCK only for the few steps of one record
 *    (copy, decode, HEAD, RECVD) and never waits while holding it. One terminated inside them (a
 *    pool kills a stuck worker anywhere; decoding a large message takes milliseconds) left CLOCK
 *    held for good: every receive on every thread waited out its timeout, or forever, with
 *    messages buffered, and a rendezvous sender taking its message back (rendezvous.ts retract)
 *    blocked its thread for good. So a thread waiting for CLOCK watches its holder: the same
 *    holder word (no CLOCK_STREAM) with HEAD and RECVD unchanged and a record unread (TAIL !=
 *    HEAD) for HELD_STALL_MS is taken for dead, and freed by one CAS from that word. The record it
 *    was reading is still at HEAD (it never consumed it), so the next receiver reads it: the dead
 *    thread delivered nothing, so nothing is lost or doubled. A holder releases CLOCK only by a
 *    CAS from its own word, so a live holder taken for dead (stalled that long inside one record)
 *    never frees the next holder's lock. A stream's receiver (CLOCK_STREAM) is never freed this
 *    way: it holds CLOCK legitimately while it waits for chunks (a receiver terminated in the
 *    middle of a stream is the limit channel.ts documents).
 * 8. A message is received whole or not at all, by the receive that read its FIRST chunk. Once it
 *    has read the FIRST (and consumed it: the chunks are larger than the ring together, so they
 *    cannot stay in it, and the part read lives only in that thread's memory), the receive's
 *    timeout and abort signal no longer apply: it reads on to the LAST and returns the message.
 *    A receive that gave up there instead kept CLOCK (invariant 3) with nothing left to carry the
 *    part on: every other receiver, on every thread, waited out its timeout or for good, the sender
 *    waited for room until its own limit cut the stream, and the message was lost. The wait is
 *    bounded by the sender, not by the receiver: a sender that times out, is aborted, finds the
 *    channel closed, or stands still for STREAM_STALL_MS is cut (invariants 4, 6), and then the
 *    receiver drops its part (invariant 5) and goes on waiting for a message within its own
 *    limits, which, once spent, end it with TimeoutError or AbortError: nothing was taken.
 * 9. WAITING (rendezvous channels; waiting.ts) counts the receives now waiting (recv, and select's
 *    receive cases), as the wait words count sleepers (memory/wait/word.ts invariant 7): a count in
 *    the low 16 bits, an epoch in the high 16. A receiver terminated while it waited never took
 *    its count back, and nothing repaired it: senders took it for a live receiver for good, a
 *    trySend offered and spun for a taker every time, and a send too large for the ring (a blocking
 *    send, a select's send case) began streaming to no one (a select committed to it and timed
 *    out, though another case was ready). So:
 *    - a receive counts itself (+ 1) and remembers the epoch it counted in; it takes the count
 *      back (- 1) only while WAITING is still in that epoch (a census has taken it out otherwise).
 *      A count of 0xFFFF is saturated, left as it is until a census (word.ts invariant 8).
 *    - a census moves WAITING to the next epoch with a count of 0 (one CAS), then rings DATA and
 *      CLOCK's word (CLW). A waiting receive sleeps on one of them, and the ready() of its wait
 *      tests the epoch besides data (or a free CLOCK): so a census that its ready() did not see
 *      rings a word it is registered on and armed, and wakes it (word.ts invariant 3), and every
 *      wake-up of a waiting receive, before it waits again, counts itself anew (+ 1, new epoch)
 *      when the epoch moved. A select counts its rendezvous receive cases again each round after
 *      it registered on their DATA words and before it looks (word.ts invariant 1), for the same
 *      reason. A receive reading a stream is not re-counted until the stream ends: it could take no
 *      other message meanwhile. So a census is safe at any moment: a live receive is uncounted only
 *      from the census to its next wake-up, which the census itself causes; a dead one stays out.
 *    - a sender holds a census when an offer to WAITING > 0 found no taker: a trySend (or a
 *      select's send case tried so) took its message back after the handoff spin (rendezvous.ts
 *      tryHandoff), or a stream (begun only while WAITING > 0) ended by its sender's timeout or
 *      abort with its FIRST chunk never begun (stream.ts). Every counted receive is then dead, or between its count and its look, or on a
 *      thread too busy to take it within the spin: a census costs those one look more. At most one
 *      census of a channel per thread per CENSUS_MIN_MS (word.ts): its epochs come round (2^16
 *      censuses) only after a minute of one thread's censuses back to back, and a receive whose
 *      remembered epoch came round would then take back another's count; only one that stood
 *      still that long with its wake-ups unhandled could. After the census a channel whose
 *      receivers are all dead reads WAITING 0: a trySend returns false at once, and a large send
 *      waits for a live receiver before it streams. (A large send, or a select's, that began
 *      streaming to a dead count before any census waits within its own limits, as it would for
 *      a live receiver slow to take it; the census comes when those limits end it.)
 *
 * Producer and consumer meet only through TAIL/HEAD: the producer writes a record with plain stores
 * and then publishes it with Atomics.store(TAIL); the consumer Atomics.load(TAIL)s and only then
 * reads the bytes (SC atomics order the plain accesses around them), and hands the space back with
 * Atomics.store(HEAD). SENT is stored before TAIL, RECVD after HEAD, so RECVD never passes SENT.
 *
 * Records start 8-byte aligned. Header (8 bytes, never split by the ring's end since SIZE % 8 == 0):
 *   Int32  [0] L       payload bytes of this record, 0 <= L <= SIZE - 8
 *   Uint8  [4] tag     codec tag (memory/codec.ts)
 *   Uint8  [5] flags   WHOLE (a message in one record), or FIRST, MORE, LAST (chunks of one)
 *   Uint8  [6] MAGIC   0xA7: a scribbled header is caught here, not decoded as garbage
 *   Uint8  [7] 0
 * then L payload bytes, which may wrap past the end of the ring (copied in two parts), padded to 8.
 * A message too large for the ring is sent as a FIRST chunk, whose payload begins with
 * [u32 total][u32 0], then MORE chunks, then a LAST chunk.
 */
import { MAX_TAG } from '../../memory/codec.js';
import { CorruptMemoryError } from '../../memory/errors.js';

export const CAP = 0;
export const USER_CAP = 1;
export const SIZE = 2;
export const WAITING = 3;
/** The count bits of WAITING (the high 16 are its epoch: invariant 9). */
export const WAITING_COUNT = 0xffff;
/** The count of receivers a WAITING value holds (invariant 9). */
export function waitingCount(x: number): number {
  return x & WAITING_COUNT;
}
export const BELL = 4;
export const FOREIGN = 5;
export const TAIL = 32;
export const HEAD = 64;
export const RECVD = 65;
export const PLOCK = 96;
export const SENT = 97;
export const STREAM_AT = 98;
export const CLOCK = 128;
/** Set in CLOCK, beside the holder's id, while the holder receives a stream (invariant 7). */
export const CLOCK_STREAM = 0x40000000;
export const DATA = 160;
export const ROOM = 192;
export const PLW = 224;
export const CLW = 256;

export const HELD = 1;
export const CLOSED = 2;
export const CUT = 4;
export const STREAMING = 8;
/** Every bit PLOCK may hold; STREAMING only together with HELD. */
export const PLOCK_BITS = HELD | CLOSED | CUT | STREAMING;
/**
 * How long a stream's sender may stand still (HELD and STREAMING, TAIL unchanged, ring empty)
 * before it is cut (invariant 4). Far above a scheduling stall, because no protocol over plain
 * shared memory can fence a live sender taken for dead: one that resumes in the middle of a chunk
 * would write into space the next producer is given (CorruptMemoryError at best). A stream's sender
 * checks for CUT before every chunk, so the exposure is a stall of this length inside the few
 * microseconds of one chunk's write. (Before STREAMING, any holder could be cut at this limit: at
 * 1000 ms this hit a sender once, in CI on 2 cores under the full suite, in
 * test/stress/channel-stress.test.ts.)
 */
export const STREAM_STALL_MS = 2000;
/**
 * How long a holder that is not streaming may stand still before it is cut (and a consumer that
 * is not receiving a stream, before its CLOCK is freed: invariant 7): it only copies one
 * record under the lock, so standing still this long means it was terminated there (a pool kills a
 * stuck worker anywhere). Long, so that a live one descheduled inside a few microseconds of stores
 * is practically never taken for dead; finite, so that a dead one does not block the channel for
 * good (issue 10).
 */
export const HELD_STALL_MS = 30_000;

export const FIRST = 1;
export const LAST = 2;
export const WHOLE = FIRST | LAST;
export const MORE = 4;
export const MAGIC = 0xa7;
export const HEADER = 8;
/** Extra bytes at the start of a FIRST chunk's payload: [u32 total][u32 0]. */
export const STREAM_PREFIX = 8;
/** Largest message a channel carries (bytes of its encoding). */
export const MAX_MESSAGE = 1 << 30;
/** Highest tag a record may carry. */
export const MAX_RECORD_TAG: number = MAX_TAG;

const DATA_OFFSET = 2048;
export const MIN_RING = 64;
export const MAX_RING = 1 << 30;

/** Rounds `n` up to a power of two within [MIN_RING, MAX_RING]. */
export function ringSizeFor(n: number): number {
  let s = MIN_RING;
  while (s < n && s < MAX_RING) s *= 2;
  return s;
}

/** Bytes a record of `payload` bytes occupies. */
export function recordBytes(payload: number): number {
  return HEADER + ((payload + 7) & ~7);
}

/** Bytes of a channel's memory with a ring of `size` bytes (its owner's tag block follows). */
export function ringBytes(size: number): number {
  return DATA_OFFSET + size;
}

/** Initializes a new channel's (zeroed) memory. */
export function initRing(sab: SharedArrayBuffer, capacity: number, size: number, bell = 0): void {
  const c = new Int32Array(sab, 0, DATA_OFFSET / 4);
  c[USER_CAP] = capacity;
  c[CAP] = capacity === 0 ? 1 : capacity;
  c[SIZE] = size;
  c[BELL] = bell;
}

/** The fixed words of a channel's memory: capacity as given, and ring bytes. */
export function ringShape(sab: SharedArrayBuffer): { capacity: number; cap: number; size: number } {
  const c = new Int32Array(sab, 0, DATA_OFFSET / 4);
  return { capacity: c[USER_CAP], cap: c[CAP], size: c[SIZE] };
}

/** Typed views over one channel's memory; every thread builds its own over the same SAB. */
export class RingViews {
  /** Control block. */
  readonly c: Int32Array;
  readonly u8: Uint8Array;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly buf: Buffer;
  readonly size: number;
  readonly mask: number;

  constructor(sab: SharedArrayBuffer) {
    this.c = new Int32Array(sab, 0, DATA_OFFSET / 4);
    const size = this.c[SIZE];
    if (
      !(size >= MIN_RING && size <= MAX_RING && (size & (size - 1)) === 0) ||
      sab.byteLength < DATA_OFFSET + size
    ) {
      throw new CorruptMemoryError(`channel memory has a ring size of ${size} bytes, which no channel uses`);
    }
    this.size = size;
    this.mask = size - 1;
    this.u8 = new Uint8Array(sab, DATA_OFFSET, size);
    this.i32 = new Int32Array(sab, DATA_OFFSET, size / 4);
    this.f64 = new Float64Array(sab, DATA_OFFSET, size / 8);
    this.buf = Buffer.from(sab, DATA_OFFSET, size);
  }

  /** Writes a record header at ring offset `off` (8-aligned). */
  writeHeader(off: number, length: number, tag: number, flags: number): void {
    const w = off >> 2;
    this.i32[w] = length;
    this.i32[w + 1] = tag | (flags << 8) | (MAGIC << 16);
  }

  /**
   * Reads the header at `off`; checks it against the `avail` published bytes. Returns the packed
   * word (tag | flags << 8) and leaves the length in {@link lastLength}.
   */
  readHeader(off: number, avail: number): number {
    const w = off >> 2;
    const length = this.i32[w];
    const word = this.i32[w + 1];
    const tag = word & 0xff;
    const flags = (word >>> 8) & 0xff;
    if (word >>> 16 !== MAGIC || flags === 0 || flags > MORE || tag > MAX_RECORD_TAG) {
      throw new CorruptMemoryError(
        `channel record header at ring offset ${off} is corrupt (word 0x${(word >>> 0).toString(16)})`,
      );
    }
    if (length < 0 || length > this.size - HEADER || recordBytes(length) > avail) {
      throw new CorruptMemoryError(
        `channel record at ring offset ${off} claims ${length} bytes; ${avail - HEADER} are published`,
      );
    }
    this.lastLength = length;
    return word & 0xffff;
  }
  lastLength = 0;

  /** Copies `src[from, from + n)` into the ring at logical position `pos`, wrapping at the end. */
  put(pos: number, src: Uint8Array, from: number, n: number): void {
    const off = pos & this.mask;
    if (n <= 64 && off + n <= this.size) {
      // small and contiguous: a loop beats creating a subarray view for set()
      const u8 = this.u8;
      for (let i = 0; i < n; i++) u8[off + i] = src[from + i];
      return;
    }
    const first = Math.min(n, this.size - off);
    this.u8.set(first === src.byteLength && from === 0 ? src : src.subarray(from, from + first), off);
    if (n > first) this.u8.set(src.subarray(from + first, from + n), 0);
  }

  /**
   * Copies the first `n` bytes of `words` into the ring at logical position `pos` (8-aligned), four
   * at a time; the last word may write up to 3 bytes past `n`, inside the record's padding.
   */
  putWords(pos: number, words: Int32Array, n: number): void {
    const off = pos & this.mask;
    if (off + n > this.size) {
      this.put(pos, new Uint8Array(words.buffer, words.byteOffset, n), 0, n);
      return;
    }
    const i32 = this.i32;
    const at = off >> 2;
    const count = (n + 3) >> 2;
    for (let i = 0; i < count; i++) i32[at + i] = words[i];
  }

  /** Copies `n` ring bytes at logical position `pos` into `dst[at...]`, wrapping at the end. */
  get(pos: number, dst: Uint8Array, at: number, n: number): void {
    const off = pos & this.mask;
    const first = Math.min(n, this.size - off);
    dst.set(this.u8.subarray(off, off + first), at);
    if (n > first) dst.set(this.u8.subarray(0, n - first), at + first);
  }
}
