/**
 * The plain codec's encoder (format: plain-format.ts): one walk over a plain object or array into a
 * scratch buffer that every call reuses, or -1 when the value is not one the format carries exactly.
 * {@link encodePlainShared} also takes shared memory (buffers, views over them, shared objects),
 * listing the buffers beside the bytes.
 */
import { types } from 'node:util';
import { copyBytes } from './byte-slab.js';
import { isSharedObjectClone, type SharedHandle } from './handle.js';
import * as F from './plain-format.js';

/** Strings longer than this are written by Buffer (native) rather than char by char. */
const LONG_STRING = 48;
/** Objects seen so far are checked by a linear scan up to this many, then by a Set. */
const SCAN_LIMIT = 16;

let out = Buffer.allocUnsafeSlow(4096) as F.FastBuffer;
/** Int32 view of `out`, for copying it out four bytes at a time. */
let outWords = new Int32Array(out.buffer, 0, out.length >> 2);
/** Uint8Array view of `out`: slicing a Buffer goes through its species, a FastBuffer, 4x slower. */
let outBytes = new Uint8Array(out.buffer, 0, out.length);
let busy = false;
let pos = 0;
const seen: (object | null)[] = new Array(SCAN_LIMIT + 1).fill(null);
let seenN = 0;
let seenSet: Set<object> | null = null;
const f64 = new Float64Array(1);
const f64b = new Uint8Array(f64.buffer);

/** The buffer list of an {@link encodePlainShared} walk; null in a plain walk (shared memory declines). */
let sabsOut: SharedArrayBuffer[] | null = null;
/**
 * A shared object's kind, id and config as written (format code 12, after the buffer index), by
 * handle: written once per handle in this thread, copied after. A handle never changes (its config
 * is the object's immutable construction options), so the bytes stay right; weak, so they go with it.
 */
const handleBytes = new WeakMap<SharedHandle, Uint8Array>();
/** View format codes by prototype (plain-format.ts VIEW_TYPES). */
const viewCodes = new Map<object, number>(
  F.VIEW_TYPES.map((name, code) => [
    name === 'Buffer' ? Buffer.prototype : (globalThis as unknown as Record<string, { prototype: object }>)[name].prototype,
    code,
  ]),
);

const DECLINE = -1;
class Decline {}
const declined = new Decline();

/** A scratch buffer grown past this for one large value is dropped at the next walk. */
const KEEP = 1 << 20;

function setOut(b: F.FastBuffer): void {
  out = b;
  outWords = new Int32Array(out.buffer, 0, out.length >> 2);
  outBytes = new Uint8Array(out.buffer, 0, out.length);
}

function room(n: number): void {
  if (pos + n <= out.length) return;
  let size = out.length * 2;
  while (size < pos + n) size *= 2;
  const bigger = Buffer.allocUnsafeSlow(size) as F.FastBuffer;
  out.copy(bigger, 0, 0, pos);
  setOut(bigger);
}

function varint(n: number): void {
  room(5);
  while (n >= 0x80) {
    out[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[pos++] = n;
}

function str(s: string): void {
  const n = s.length;
  if (n <= LONG_STRING) {
    room(n + 6);
    // locals: the module bindings cost a context load and a check on every access
    const o = out;
    let p = pos;
    o[p++] = F.T_ASCII;
    o[p++] = n; // n <= 48 < 0x80: a one-byte varint
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) {
        utf8(s);
        return;
      }
      o[p++] = c;
    }
    pos = p;
    return;
  }
  utf8(s);
}

function utf8(s: string): void {
  // UTF-8 cannot hold a lone surrogate (it would come back as U+FFFD): such a string takes the
  // general codec, which keeps UTF-16 exactly (as codec.ts `encode` does for a string alone).
  if (!(s as unknown as { isWellFormed(): boolean }).isWellFormed()) throw declined;
  const max = s.length * 3;
  room(max + 6);
  out[pos++] = F.T_UTF8;
  // Write after room for the longest varint, then move the bytes back if the varint is shorter.
  const at = pos + 5;
  const n = out.utf8Write(s, at, max);
  varint(n);
  if (pos !== at) out.copyWithin(pos, at, at + n);
  pos += n;
}

function visit(o: object): void {
  if (seenSet) {
    if (seenSet.has(o)) throw declined;
    seenSet.add(o);
    return;
  }
  for (let i = 0; i < seenN; i++) if (seen[i] === o) throw declined;
  seen[seenN++] = o;
  if (seenN > SCAN_LIMIT) seenSet = new Set(seen as object[]);
}

function value(v: unknown, depth: number): void {
  switch (typeof v) {
    case 'number':
      room(9);
      if ((v | 0) === v && (v !== 0 || 1 / v > 0)) {
        out[pos] = F.T_INT;
        out[pos + 1] = v;
        out[pos + 2] = v >> 8;
        out[pos + 3] = v >> 16;
        out[pos + 4] = v >> 24;
        pos += 5;
      } else {
        out[pos++] = F.T_F64;
        f64[0] = v;
        out.set(f64b, pos);
        pos += 8;
      }
      return;
    case 'string':
      str(v);
      return;
    case 'boolean':
      room(1);
      out[pos++] = v ? F.T_TRUE : F.T_FALSE;
      return;
    case 'undefined':
      room(1);
      out[pos++] = F.T_UNDEF;
      return;
    case 'object':
      break;
    default:
      throw declined;
  }
  if (v === null) {
    room(1);
    out[pos++] = F.T_NULL;
    return;
  }
  if (depth >= F.MAX_DEPTH) throw declined;
  // A Proxy (of an array or a plain object) reads as one here, but structured clone refuses it: the
  // general codec throws SerializationError for it, as it must.
  if (types.isProxy(v)) throw declined;
  const proto = Object.getPrototypeOf(v);
  if (proto === Array.prototype) {
    const a = v as unknown[];
    visit(a);
    const n = a.length;
    room(1);
    out[pos++] = F.T_ARR;
    varint(n);
    for (let i = 0; i < n; i++) {
      const x = a[i];
      if (x === undefined && !(i in a)) throw declined; // a hole
      value(x, depth + 1);
    }
    return;
  }
  if (proto !== Object.prototype) {
    if (sabsOut === null) throw declined;
    shared(v, depth);
    return;
  }
  // An arguments object has Object.prototype too, and structured clone refuses it as well; its own
  // `callee` tells it (a plain object with a key `callee` merely takes the general codec).
  if ('callee' in v) throw declined;
  const rec = v as Record<string, unknown>;
  // (the clone of a shared object, `{ handle }`, arrives as the live object, as on the general path)
  if (sabsOut !== null && rec.handle !== undefined && isSharedObjectClone(rec)) {
    sharedObject((rec as { handle: SharedHandle }).handle, depth);
    return;
  }
  visit(v);
  room(2);
  out[pos++] = F.T_OBJ;
  const countAt = pos++;
  let count = 0;
  // for-in reads `rec[k]` through V8's enum cache, ~3x faster than Object.keys + a keyed load; it
  // would also list inherited enumerable keys, which encodePlain rules out (see noInheritedKeys).
  for (const k in rec) {
    if (k === '__proto__') throw declined;
    str(k);
    value(rec[k], depth + 1);
    count++;
  }
  if (count < 0x80) {
    out[countAt] = count;
  } else {
    // a count of 128 or more takes a longer varint: move the body to make room for it
    const body = Uint8Array.prototype.slice.call(out, countAt + 1, pos); // a copy (Buffer#slice is a view)
    pos = countAt;
    varint(count);
    room(body.length);
    out.set(body, pos);
    pos += body.length;
  }
}

/** Shared memory in a shared walk: a buffer, a view over one, or a shared object; else it declines. */
function shared(v: object, depth: number): void {
  if (v instanceof SharedArrayBuffer) {
    room(6);
    out[pos++] = F.T_SAB;
    varint(sabIndex(v));
    return;
  }
  if (ArrayBuffer.isView(v)) {
    const code = viewCodes.get(Object.getPrototypeOf(v) as object);
    // A view over unshared memory is copied: the general codec. One met twice arrives as two views
    // over the same memory, as on the general path (not `visit`ed).
    if (code === undefined || !(v.buffer instanceof SharedArrayBuffer)) throw declined;
    room(2);
    out[pos++] = F.T_VIEW;
    out[pos++] = code;
    varint(sabIndex(v.buffer));
    varint(v.byteOffset);
    varint(v instanceof DataView ? v.byteLength : (v as unknown as { length: number }).length);
    return;
  }
  if (isSharedObjectClone(v)) {
    sharedObject((v as { handle: SharedHandle }).handle, depth);
    return;
  }
  throw declined;
}

/**
 * A shared object: its buffer's index, then its kind, id and config (cached per handle). Not
 * `visit`ed: one met twice arrives as one anyway (the receiver keeps one live object per buffer).
 */
function sharedObject(h: SharedHandle, depth: number): void {
  room(6);
  out[pos++] = F.T_SHARED;
  varint(sabIndex(h.sab));
  const known = handleBytes.get(h);
  if (known !== undefined) {
    room(known.length);
    out.set(known, pos);
    pos += known.length;
    return;
  }
  const start = pos;
  const listed = (sabsOut as SharedArrayBuffer[]).length;
  str(h.kind);
  str(h.id);
  room(4);
  const lenAt = pos;
  pos += 4;
  value(h.config, depth + 1);
  out.writeUInt32LE(pos - lenAt - 4, lenAt);
  // A config that holds shared memory wrote indexes into this value's own list: not reusable.
  if ((sabsOut as SharedArrayBuffer[]).length !== listed) return;
  handleBytes.set(h, Uint8Array.prototype.slice.call(out, start, pos)); // a copy (Buffer#slice is a view)
}

function sabIndex(sab: SharedArrayBuffer): number {
  const list = sabsOut as SharedArrayBuffer[];
  const i = list.indexOf(sab);
  return i >= 0 ? i : list.push(sab) - 1;
}

/** Whether Object.prototype has no enumerable keys (someone may add some: then for-in would list them). */
function noInheritedKeys(): boolean {
  for (const _ in Object.prototype) return false;
  return true;
}

/**
 * Encodes a plain object or array; returns its byte length (the bytes are in {@link plainBytes},
 * valid until the next call), or -1 when this codec declines the value.
 */
export function encodePlain(v: object): number {
  return walk(v, null);
}

/**
 * Like {@link encodePlain}, and also takes shared memory: SharedArrayBuffers, views over them and
 * shared objects (handle.ts), at any depth. Their buffers are appended to `sabs` (each once), which
 * the bytes index; whoever moves the bytes must move that list too. Returns -1 (and `sabs` is to be
 * dropped) for what the plain codec declines, and for a view over unshared memory or of a type it
 * does not know. (Caller: codec.ts `encode`, for a value that holds shared memory.)
 */
export function encodePlainShared(v: object, sabs: SharedArrayBuffer[]): number {
  return walk(v, sabs);
}

function walk(v: object, sabs: SharedArrayBuffer[] | null): number {
  // A getter that sends on a channel would re-enter while this walk owns the buffer.
  if (busy || !noInheritedKeys()) return DECLINE;
  busy = true;
  // (the last walk's bytes are the caller's only until this call: a buffer one huge value grew,
  // a string of 8 MiB to 32 MiB say, is not kept for the life of the thread)
  if (out.length > KEEP) setOut(Buffer.allocUnsafeSlow(4096) as F.FastBuffer);
  sabsOut = sabs;
  pos = 0;
  seenN = 0;
  seenSet = null;
  try {
    value(v, 0);
  } catch (err) {
    if (err === declined || err instanceof RangeError) return DECLINE;
    throw err;
  } finally {
    busy = false;
    sabsOut = null;
    // (a fixed array with a count: setting .length would free and regrow its store every message)
    for (let i = 0; i < seenN; i++) seen[i] = null;
    seenSet = null;
  }
  return pos;
}

/** The buffer holding the last {@link encodePlain}'s bytes at [0, n) (no view is made per message). */
export function plainBuffer(): Uint8Array {
  return out;
}

/** A copy of the last walk's `n` bytes, for a caller that keeps them. */
export function plainCopy(n: number): Uint8Array {
  return copyBytes(outBytes, n);
}

/** The same bytes as Int32 words (the buffer starts 8-aligned: allocUnsafeSlow is not pooled). */
export function plainWords(): Int32Array {
  return outWords;
}
