/**
 * A chain batch (chain.ts) and its results as one byte frame, so a batch of quick items crosses
 * the ring as bytes the pool copies as they are (codec tag Bytes) instead of one `v8.serialize` of
 * an object graph. Each item's value keeps its own codec tag: a string is written as UTF-8 straight
 * into the frame, a plain object or array through the plain codec, a Buffer or Uint8Array as its
 * bytes, anything else through the general codec (codec.ts `encodeTransient`). A value holding
 * shared memory (a shared object, a SharedArrayBuffer) cannot ride in bytes: the encoders return
 * null and the caller sends the object form, whose buffers travel beside it.
 *
 * Layout (little-endian):
 *
 *   batch    u8 BATCH, u32 e, u32 n, u16 id length, id (UTF-8), then n items:
 *              u32 k, u32 t, u32 g, value
 *   results  u8 RESULTS, u32 n, then n items: u8 ok (1 output, 0 error record), value
 *   value    u8 codec tag, then: nothing (undefined, null, booleans), i32 (Int32), f64 (Float64),
 *            or u32 length and that many bytes (every other tag)
 *
 * Decoding copies every value out of the frame (a Buffer output is a Buffer of its own), and a
 * frame that is cut short or names a tag no encoder writes throws CorruptMemoryError.
 *
 * Between two pool segments (stages on different pools) an item's value need not be decoded on the
 * main thread at all: the results frame can hand each output over as a {@link FrameValue}, its tag
 * and bytes as they arrived, which the next segment's batch frame copies in as they are. The main
 * thread then routes a batch's bytes, not its values (see pool-segment.ts `passOn`).
 */
import { decode, encodeTransient, newEncoded, payloadLength, Tag } from '../../memory/codec.js';
import { CorruptMemoryError } from '../../memory/errors.js';
import { decodePlain } from '../../memory/plain-decode.js';
import type { FastBuffer } from '../../memory/plain-format.js';
import type { ChainBatch, ChainItem, ChainItemResult } from './chain.js';

const BATCH = 0xb1;
const RESULTS = 0xb2;

/** Grows as needed and is reused: each frame is copied out of it once complete. */
const SCRATCH = 1 << 14;
/** Past this, a grown scratch buffer is let go after the frame (one huge value must not pin it). */
const KEEP = 1 << 20;
let scratch = Buffer.allocUnsafe(SCRATCH) as FastBuffer;
let pos = 0;
/** A frame is being written: a value's getter that wrote another would clobber it (it gets null). */
let busy = false;
const enc = newEncoded();

function room(n: number): void {
  if (pos + n <= scratch.length) return;
  const next = Buffer.allocUnsafe(Math.max(scratch.length * 2, pos + n)) as FastBuffer;
  scratch.copy(next, 0, 0, pos);
  scratch = next;
}

function u8(v: number): void {
  room(1);
  scratch[pos++] = v;
}

function u32(v: number): void {
  room(4);
  scratch.writeUInt32LE(v >>> 0, pos);
  pos += 4;
}

/** Writes one value; false when it holds shared memory (no frame can carry it). */
function value(v: unknown): boolean {
  if (v instanceof FrameValue) {
    // Written as it was read: the tag, then its payload in the layout the tag has (see the top).
    const n = v.bytes.length;
    room(5 + n);
    scratch[pos++] = v.tag;
    if (v.tag > Tag.False && v.tag !== Tag.Int32 && v.tag !== Tag.Float64) {
      scratch.writeUInt32LE(n, pos);
      pos += 4;
    }
    scratch.set(v.bytes, pos);
    pos += n;
    return true;
  }
  if (typeof v === 'string' && (v as unknown as { isWellFormed(): boolean }).isWellFormed()) {
    room(5 + v.length * 3); // UTF-8 takes at most 3 bytes per UTF-16 unit
    scratch[pos] = Tag.String;
    const n = scratch.utf8Write(v, pos + 5, scratch.length - pos - 5);
    scratch.writeUInt32LE(n, pos + 1);
    pos += 5 + n;
    return true;
  }
  const e = encodeTransient(v, enc);
  if (e.sabs) return false;
  u8(e.tag);
  if (e.tag === Tag.Int32) {
    room(4);
    scratch.writeInt32LE(e.num, pos);
    pos += 4;
  } else if (e.tag === Tag.Float64) {
    room(8);
    scratch.writeDoubleLE(e.num, pos);
    pos += 8;
  } else if (e.tag > Tag.False) {
    const n = payloadLength(e);
    u32(n);
    room(n);
    if (n > 0) scratch.set((e.bytes as Uint8Array).subarray(0, n), pos);
    pos += n;
  }
  return true;
}

function done(): Uint8Array {
  const out = new Uint8Array(pos);
  out.set(scratch.subarray(0, pos));
  if (scratch.length > KEEP) scratch = Buffer.allocUnsafe(SCRATCH) as FastBuffer;
  return out;
}

/** Runs `write` as the one frame being written; null if another is (reentered from a getter) or it declines. */
function frame(write: () => boolean): Uint8Array | null {
  if (busy) return null;
  busy = true;
  pos = 0;
  try {
    return write() ? done() : null;
  } finally {
    busy = false;
  }
}

/** The batch as a frame, or null if some value holds shared memory. */
export function encodeBatchFrame(items: readonly ChainItem[], e: number, id: string): Uint8Array | null {
  return batchFrame(e, id, items.length, (i) => {
    const it = items[i];
    u32(it.k);
    u32(it.t);
    u32(it.g);
    return value(it.v);
  });
}

/**
 * {@link encodeBatchFrame} for a batch given as columns, every item starting at stage `k`: the
 * same bytes, without a ChainItem object per item on the main thread (pool-segment.ts).
 */
export function encodeBatchColumns(
  values: readonly unknown[],
  k: number,
  ts: readonly number[],
  gens: readonly number[],
  e: number,
  id: string,
): Uint8Array | null {
  return batchFrame(e, id, values.length, (i) => {
    u32(k);
    u32(ts[i]);
    u32(gens[i]);
    return value(values[i]);
  });
}

function batchFrame(e: number, id: string, n: number, item: (i: number) => boolean): Uint8Array | null {
  const idBytes = Buffer.from(id, 'utf8');
  if (idBytes.length > 0xffff) return null;
  return frame(() => {
    u8(BATCH);
    u32(e);
    u32(n);
    room(2 + idBytes.length);
    scratch.writeUInt16LE(idBytes.length, pos);
    scratch.set(idBytes, pos + 2);
    pos += 2 + idBytes.length;
    // Indexed loops here and below: this code runs once per batch, mostly before TurboFan, where a
    // for-of or a destructuring makes an iterator result per item.
    for (let i = 0; i < n; i++) if (!item(i)) return false;
    return true;
  });
}

/** The results as a frame, or null if some output holds shared memory. */
export function encodeResultsFrame(results: readonly ChainItemResult[]): Uint8Array | null {
  return frame(() => {
    u8(RESULTS);
    u32(results.length);
    for (let i = 0; i < results.length; i++) {
      const r = results[i];
      u8(r[0]);
      if (!value(r[1])) return false;
    }
    return true;
  });
}

/** Whether a task input or result is a frame (the other form is an object or an array). */
export function isFrame(x: unknown): x is Uint8Array {
  return x instanceof Uint8Array;
}

/** One value of a frame at `from` (`n` payload bytes, in the layout its tag has), decoded into memory of its own. */
function decodeValue(tag: number, buf: Buffer, from: number, n: number): unknown {
  switch (tag) {
    case Tag.Int32:
      return buf.readInt32LE(from);
    case Tag.Float64:
      return buf.readDoubleLE(from);
    case Tag.String:
      return buf.toString('utf8', from, from + n);
    case Tag.Buffer: {
      const b = Buffer.allocUnsafe(n); // a copy (small ones from Node's pool)
      buf.copy(b, 0, from, from + n);
      return b;
    }
    case Tag.Bytes: {
      const u = new Uint8Array(n);
      u.set(buf.subarray(from, from + n));
      return u;
    }
    case Tag.ArrayBuffer:
      return buf.buffer.slice(buf.byteOffset + from, buf.byteOffset + from + n);
    case Tag.Plain:
      return decodePlain(buf, from, n); // in place: no view objects per value (decode would make two)
    default:
      return decode(tag, buf.subarray(from, from + n));
  }
}

/**
 * A value still in the bytes a results frame brought it in: its codec tag and payload (a view into
 * that frame). Only pool segments see one: a batch frame copies it in as it is ({@link value}), and
 * anything else takes {@link FrameValue.decode}.
 */
export class FrameValue {
  constructor(
    readonly tag: number,
    readonly bytes: Buffer,
  ) {}

  /** The value itself, decoded into memory of its own (each call decodes again). */
  decode(): unknown {
    return decodeValue(this.tag, this.bytes, 0, this.bytes.length);
  }
}

/** `v` itself: a {@link FrameValue} decoded, anything else as it is. */
export function valueOf(v: unknown): unknown {
  return v instanceof FrameValue ? v.decode() : v;
}

class Reader {
  at = 0;
  readonly buf: Buffer;
  constructor(bytes: Uint8Array) {
    this.buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  need(n: number): void {
    if (this.at + n > this.buf.length) throw new CorruptMemoryError(`chain frame cut short at byte ${this.at} of ${this.buf.length}`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.at++];
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.at);
    this.at += 4;
    return v;
  }

  /** The next value, decoded; or, with `keep`, left in its bytes as a {@link FrameValue}. */
  value(keep = false): unknown {
    const tag = this.u8();
    let n = 0;
    if (tag === Tag.Int32 || tag === Tag.Float64) n = tag === Tag.Int32 ? 4 : 8;
    else if (tag > Tag.False) n = this.u32();
    this.need(n);
    const from = this.at;
    this.at += n;
    if (tag === Tag.V8Shared || tag === Tag.PlainShared) {
      throw new CorruptMemoryError(`chain frame holds a value with shared memory (tag ${tag})`);
    }
    if (keep) return new FrameValue(tag, this.buf.subarray(from, from + n));
    return decodeValue(tag, this.buf, from, n);
  }

  end(): void {
    if (this.at !== this.buf.length) throw new CorruptMemoryError(`chain frame has ${this.buf.length - this.at} bytes past its end`);
  }
}

/** The batch a frame holds. */
export function decodeBatchFrame(bytes: Uint8Array): ChainBatch {
  const r = new Reader(bytes);
  if (r.u8() !== BATCH) throw new CorruptMemoryError('not a chain batch frame');
  const e = r.u32();
  const n = r.u32();
  r.need(2);
  const idLen = r.buf.readUInt16LE(r.at);
  r.at += 2;
  r.need(idLen);
  const id = r.buf.toString('utf8', r.at, r.at + idLen);
  r.at += idLen;
  const b: ChainItem[] = [];
  for (let i = 0; i < n; i++) {
    const k = r.u32();
    const t = r.u32();
    const g = r.u32();
    b.push({ k, t, g, v: r.value() });
  }
  r.end();
  return { b, e, id };
}

/**
 * The results a frame holds. With `keep`, each output stays in its bytes as a {@link FrameValue}
 * (for a next pool segment to send on as it is); error records are always decoded.
 */
export function decodeResultsFrame(bytes: Uint8Array, keep = false): ChainItemResult[] {
  const out: ChainItemResult[] = [];
  forEachResult(bytes, keep, (ok, v) => {
    out.push([ok ? 1 : 0, v]);
  });
  return out;
}

/**
 * Each result of a frame in order, as {@link decodeResultsFrame} decodes them, handed to `each`
 * instead of collected as pairs (the main thread makes one object per item fewer). A corrupt frame
 * throws CorruptMemoryError, after `each` has seen the values before the fault: collect, then act.
 */
export function forEachResult(bytes: Uint8Array, keep: boolean, each: (ok: boolean, v: unknown, i: number) => void): void {
  const r = new Reader(bytes);
  if (r.u8() !== RESULTS) throw new CorruptMemoryError('not a chain results frame');
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    const ok = r.u8();
    if (ok > 1) throw new CorruptMemoryError(`chain results frame: item ${i} has status ${ok}`);
    each(ok === 1, r.value(keep && ok === 1), i);
  }
  r.end();
}
