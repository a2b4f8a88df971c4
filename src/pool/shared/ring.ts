/**
 * Byte rings in shared memory that carry pool tasks and results as records.
 *
 * Ring SAB layout:
 *   bytes   0..3    HEAD   consumer position (bytes, mod 2^32)
 *   bytes  64..67   TAIL   producer position, published after a record's bytes are written
 *   bytes 128..     DATA   `size` bytes, a power of two
 * HEAD and TAIL sit on different cache lines so a producer and a consumer do not bounce one line.
 *
 * Record layout (16-byte aligned, never split at the ring's end: a PAD record fills the gap):
 *   +0   LEN_FLAGS  record length in bytes (a multiple of 16) | CONSUMED | PAD
 *   +4   SLOT       the task's slot in the pool's slot table
 *   +8   META       codec tag (low 8 bits) | function id or result status (<< 8)
 *   +12  PAYLOAD    payload length in bytes
 *   +16  payload    Int32 / Float64 written in place; other values as codec bytes. A value that holds
 *                   SharedArrayBuffers (codec tags V8Shared, PlainShared: `carriesSabs`) starts with
 *                   their ids instead of the buffers, which cannot be written to memory:
 *                     +16 COUNT (u32) | +20 unused | +24 ids (f64 each, `sabId`) | then the codec bytes
 *                   Its reader turns the ids back into buffers through `resolveSab` (a SabTable that
 *                   the buffers were shipped to beforehand; see main/sab-shipper.ts for why they are
 *                   always there first).
 *
 * Why it is race-free: the producer writes a record with plain stores and only then publishes it
 * with `Atomics.store(TAIL)`; a consumer reads TAIL with `Atomics.load` before reading any record
 * below it, so it sees the record whole (Atomics are sequentially consistent and order the plain
 * accesses around them). Task rings have one producer (the main thread) and many consumers
 * (workers): a worker claims a run of records with a CAS on HEAD, copies them out, then marks each
 * CONSUMED with `Atomics.store`; the producer reuses space only behind records it has seen
 * CONSUMED, so it never overwrites a record a slow worker is still copying; the bytes a worker
 * scans before its CAS have no such guard, so it rescans when HEAD moved under it (claim C3 in
 * layout.ts, where the whole claim protocol is written down). Result rings have one
 * producer (a worker) and one consumer (the main thread), which advances HEAD after reading.
 *
 * This file holds the layout and what both kinds share (`Ring`); their ends are in task-ring.ts
 * (TaskRingWriter, TaskRingReader) and result-ring.ts (ResultRingWriter, ResultRingReader).
 */

import { carriesSabs, decode, type Encoded, Tag } from '../../memory/codec.js';
import { CorruptMemoryError } from '../../memory/errors.js';
import { decodePlain } from '../../memory/plain-decode.js';

export const HEAD = 0;
export const TAIL = 16;
const DATA = 128;
export const CONSUMED = 1 << 30;
export const PAD = 1 << 29;
export const LEN_MASK = PAD - 1;
export const HDR = 16;
/**
 * Rewind: a writer past this offset goes back to the ring's start, padding the rest, as soon as the
 * records still in the ring (all below its position) take at most half the space before it. So a
 * ring that is drained as fast as it is filled cycles through its first REWIND bytes (plus one
 * record), not the whole ring: fewer pages made resident (a pool's rings are 1 MiB each) and
 * records that stay in cache.
 * The rest of the ring is still used when records pile up. Safe for the same reason any pad is:
 * it is written only into space the free-space check has proven free. (Positions then advance by
 * the pads too, ~16x faster than the data: a claimer's HEAD CAS could meet the same 32-bit value
 * again only after ~256 MiB of tasks were placed while it stood between its HEAD read and its CAS.)
 */
const REWIND = 64 * 1024;
/** How far a task-ring writer past REWIND writes between looks at what workers consumed. */
export const RECLAIM_EVERY = 4096;
/** Bytes before the codec bytes of a payload with `n` buffer ids (`carriesSabs`). */
export function sabPrefix(n: number): number {
  return 8 + 8 * n;
}

/** Allocates a ring with `size` data bytes (a power of two, >= 4096). */
export function createRing(size: number): SharedArrayBuffer {
  return new SharedArrayBuffer(DATA + size);
}

/** Views of one ring, and the record reads and writes both kinds of ring make. */
export class Ring {
  readonly ctl: Int32Array;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly u8: Uint8Array;
  readonly buf: Buffer;
  readonly size: number;
  readonly mask: number;
  /** Largest payload a record may carry; bigger values travel by postMessage. */
  readonly maxPayload: number;
  /** The offset past which a writer rewinds to the start when it can (REWIND). */
  readonly rewindAt: number;
  /** Turns a buffer id of a record with buffers back into the buffer (readers of such records set it). */
  resolveSab: ((id: number) => SharedArrayBuffer) | undefined;

  constructor(readonly sab: SharedArrayBuffer) {
    this.size = sab.byteLength - DATA;
    this.mask = this.size - 1;
    this.ctl = new Int32Array(sab, 0, DATA / 4);
    this.i32 = new Int32Array(sab, DATA);
    this.f64 = new Float64Array(sab, DATA);
    this.u8 = new Uint8Array(sab, DATA);
    this.buf = Buffer.from(sab, DATA, this.size);
    this.maxPayload = this.size / 4 - HDR;
    this.rewindAt = Math.min(REWIND, this.size / 2);
  }

  /**
   * Writes one record at `pos` (already known to fit contiguously). Returns its length. `plen`
   * counts the payload as written: with `sabIds`, their prefix too.
   */
  put(pos: number, slot: number, meta: number, e: Encoded, plen: number, sabIds?: readonly number[]): number {
    const off = pos & this.mask;
    const len = (HDR + plen + 15) & ~15;
    const i = off >> 2;
    const i32 = this.i32;
    i32[i + 1] = slot;
    i32[i + 2] = e.tag | (meta << 8);
    i32[i + 3] = plen;
    if (e.tag === Tag.Int32) i32[i + 4] = e.num;
    else if (e.tag === Tag.Float64) this.f64[(off + HDR) >> 3] = e.num;
    else if (sabIds !== undefined) {
      const n = sabIds.length;
      i32[i + 4] = n;
      const at = (off + HDR + 8) >> 3;
      for (let k = 0; k < n; k++) this.f64[at + k] = sabIds[k];
      this.u8.set(e.bytes as Uint8Array, off + HDR + sabPrefix(n));
    } else if (plen > 0) this.u8.set(e.bytes as Uint8Array, off + HDR);
    i32[i] = len;
    return len;
  }

  /** Record length at `pos`, checked: a corrupt one must not send a reader past the buffer. */
  lengthAt(pos: number, hdr: number): number {
    const len = hdr & LEN_MASK;
    if (len < HDR || (len & 15) !== 0 || len > this.size - (pos & this.mask)) {
      throw new CorruptMemoryError(`ring record at ${pos & this.mask} has impossible length ${len}`);
    }
    return len;
  }

  /** Reads the value of the record at `pos` (copied out of shared memory). */
  value(pos: number): unknown {
    const off = pos & this.mask;
    const i = off >> 2;
    const tag = this.i32[i + 2] & 0xff;
    const plen = this.i32[i + 3];
    if (tag === Tag.Int32) return this.i32[i + 4];
    if (tag === Tag.Float64) return this.f64[(off + HDR) >> 3];
    if (plen < 0 || plen > this.size - off - HDR) {
      throw new CorruptMemoryError(`ring record at ${off} has impossible payload length ${plen}`);
    }
    if (tag === Tag.String) return this.buf.toString('utf8', off + HDR, off + HDR + plen);
    if (carriesSabs(tag)) return this.#sharedValue(off, tag, plen);
    return decode(tag, this.u8.slice(off + HDR, off + HDR + plen));
  }

  #sharedValue(off: number, tag: number, plen: number): unknown {
    const n = this.i32[(off + HDR) >> 2];
    if (n <= 0 || sabPrefix(n) > plen) {
      throw new CorruptMemoryError(`ring record at ${off} names ${n} shared buffers in ${plen} bytes`);
    }
    const resolve = this.resolveSab;
    if (!resolve) throw new CorruptMemoryError(`ring record at ${off} names shared buffers this reader cannot resolve`);
    const sabs: SharedArrayBuffer[] = new Array(n);
    const at = (off + HDR + 8) >> 3;
    for (let k = 0; k < n; k++) sabs[k] = resolve(this.f64[at + k]);
    const from = off + HDR + sabPrefix(n);
    // In place: a plain-coded value keeps none of its bytes (strings are copied, views are over the
    // value's own buffers), and a record is read before it is marked CONSUMED (or HEAD passes it).
    // A copy of more than 64 bytes would cost a buffer of its own outside the heap, ~0.5 us.
    if (tag === Tag.PlainShared) return decodePlain(this.buf, from, plen - sabPrefix(n), sabs);
    return decode(tag, this.u8.slice(from, off + HDR + plen), sabs);
  }

  slotAt(pos: number): number {
    return this.i32[((pos & this.mask) >> 2) + 1];
  }

  metaAt(pos: number): number {
    return this.i32[((pos & this.mask) >> 2) + 2] >>> 8;
  }

  /**
   * Where a record of `plen` payload bytes goes from `pos`, with `used` bytes still in the ring
   * below `pos`: the pad before it (0 if none) and its length. A pad fills the rest of the ring when
   * the record would not fit before its end, or to rewind (REWIND): past `rewindAt`, when the live
   * records, in [off - used, off), take at most half of what lies below `off`. The pad counts as
   * used until readers pass it, so a ring being filled faster than it drains (used close to off)
   * does not rewind: that would cut its room to `off` until then.
   */
  fit(pos: number, plen: number, used: number): { pad: number; len: number } {
    const len = (HDR + plen + 15) & ~15;
    const off = pos & this.mask;
    const pad = off + len > this.size || (off >= this.rewindAt && 2 * (used + len) <= off) ? this.size - off : 0;
    return { pad, len };
  }

  /**
   * Writes at `pos` the pad `fit` asked for (if any; a PAD record, unmarked: its reader marks it,
   * task rings, or passes it) and then the record; returns the position after them. The caller has
   * checked the room and publishes later.
   */
  append(
    pos: number,
    pad: number,
    len: number,
    slot: number,
    meta: number,
    e: Encoded,
    plen: number,
    sabIds?: readonly number[],
  ): number {
    if (pad > 0) {
      this.i32[(pos & this.mask) >> 2] = pad | PAD;
      pos = (pos + pad) | 0;
    }
    this.put(pos, slot, meta, e, plen, sabIds);
    return (pos + len) | 0;
  }
}
