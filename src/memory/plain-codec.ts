/**
 * The plain codec (codec tag `Plain`): a fast path for the values messages carry most, plain objects
 * and arrays of numbers, strings, booleans, null and undefined (JSON-like data). codec.ts's
 * `encodeTransient` sends plain objects and arrays here first. `v8.serialize` costs about 4 µs for a small
 * object here (a fresh serializer per value); this walk writes the same value in a compact form in
 * a few hundred ns, and reading it back builds the objects directly, without a deserializer.
 *
 * It is exact or it declines, with one exception: anything structured clone would treat differently
 * from this walk (a class instance, a Date, a Map, a typed array, a sparse array, an object reached
 * twice or a cycle, a key named `__proto__`, nesting deeper than {@link MAX_DEPTH}) makes
 * {@link encodePlain} return -1, and the caller uses the general codec (`encode`). The exception: named
 * (non-index) properties of an array are dropped, as JSON drops them (structured clone keeps
 * them). Telling such an array apart costs an `Object.keys` per array, about 70 ns, more than the
 * rest of a small message's encoding; a RegExp match array therefore arrives as a plain array.
 *
 * Format (one type byte, then):
 *   0 undefined  1 null  2 true  3 false
 *   4 int32      4 bytes little-endian
 *   5 float64    8 bytes little-endian (also -0, NaN, ±Infinity, non-int32 integers)
 *   6 ascii      varint length, bytes          7 utf8   varint byte length, bytes
 *   8 array      varint length, items          9 object varint count, (key string, value) pairs
 * varint: 7 bits per byte, low first, high bit = more.
 */
import { CorruptMemoryError } from './errors.js';

/** Buffer's native one-encoding helpers: present at runtime, missing from @types/node. */
type FastBuffer = Buffer & {
  utf8Write(s: string, offset: number, max: number): number;
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
};

export const MAX_DEPTH = 64;

const T_UNDEF = 0;
const T_NULL = 1;
const T_TRUE = 2;
const T_FALSE = 3;
const T_INT = 4;
const T_F64 = 5;
const T_ASCII = 6;
const T_UTF8 = 7;
const T_ARR = 8;
const T_OBJ = 9;

/** Strings longer than this are written by Buffer (native) rather than char by char. */
const LONG_STRING = 48;
/** Objects seen so far are checked by a linear scan up to this many, then by a Set. */
const SCAN_LIMIT = 16;

let out = Buffer.allocUnsafeSlow(4096) as FastBuffer;
/** Int32 view of `out`, for copying it out four bytes at a time. */
let outWords = new Int32Array(out.buffer, 0, out.length >> 2);
let busy = false;
let pos = 0;
const seen: (object | null)[] = new Array(SCAN_LIMIT + 1).fill(null);
let seenN = 0;
let seenSet: Set<object> | null = null;
const f64 = new Float64Array(1);
const f64b = new Uint8Array(f64.buffer);

const DECLINE = -1;
class Decline {}
const declined = new Decline();

function room(n: number): void {
  if (pos + n <= out.length) return;
  let size = out.length * 2;
  while (size < pos + n) size *= 2;
  const bigger = Buffer.allocUnsafeSlow(size) as FastBuffer;
  out.copy(bigger, 0, 0, pos);
  out = bigger;
  outWords = new Int32Array(out.buffer, 0, out.length >> 2);
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
    o[p++] = T_ASCII;
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
  const max = s.length * 3;
  room(max + 6);
  out[pos++] = T_UTF8;
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
        out[pos] = T_INT;
        out[pos + 1] = v;
        out[pos + 2] = v >> 8;
        out[pos + 3] = v >> 16;
        out[pos + 4] = v >> 24;
        pos += 5;
      } else {
        out[pos++] = T_F64;
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
      out[pos++] = v ? T_TRUE : T_FALSE;
      return;
    case 'undefined':
      room(1);
      out[pos++] = T_UNDEF;
      return;
    case 'object':
      break;
    default:
      throw declined;
  }
  if (v === null) {
    room(1);
    out[pos++] = T_NULL;
    return;
  }
  if (depth >= MAX_DEPTH) throw declined;
  const proto = Object.getPrototypeOf(v);
  if (proto === Array.prototype) {
    const a = v as unknown[];
    visit(a);
    const n = a.length;
    room(1);
    out[pos++] = T_ARR;
    varint(n);
    for (let i = 0; i < n; i++) {
      const x = a[i];
      if (x === undefined && !(i in a)) throw declined; // a hole
      value(x, depth + 1);
    }
    return;
  }
  if (proto !== Object.prototype) throw declined;
  visit(v);
  const rec = v as Record<string, unknown>;
  room(2);
  out[pos++] = T_OBJ;
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
  // A getter that sends on a channel would re-enter while this walk owns the buffer.
  if (busy || !noInheritedKeys()) return DECLINE;
  busy = true;
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

/** The same bytes as Int32 words (the buffer starts 8-aligned: allocUnsafeSlow is not pooled). */
export function plainWords(): Int32Array {
  return outWords;
}

// ------------------------------------------------------------------------------------------ decode
//
// Reads do not check every byte against the end: a read past it yields `undefined` (past the
// buffer) or bytes of a neighbouring record, and is caught by the checks at every item of an
// array or object and at the end (`at` must land exactly on `end`). Counts are checked against the
// bytes left before anything is allocated for them, so corrupt input cannot make a huge array.

let src: FastBuffer = out;
let at = 0;
let end = 0;
const fcc = String.fromCharCode;

/**
 * Object shapes seen in decoded messages: a trie on key sequences. A shape seen twice gets a
 * compiled factory, `(v) => ({ "id": v[0], "name": v[1] })`, which makes objects of one hidden class
 * in one step; adding the keys one by one costs a megamorphic keyed store each (about 3x slower).
 * The trie is bounded ({@link MAX_SHAPES}); past it, and where code generation from strings is
 * disallowed, objects are built key by key.
 */
class Shape {
  readonly next = new Map<string, Shape>();
  /** The child looked up last: messages of one shape in a row skip the Map. */
  lastKey = '';
  lastChild: Shape | null = null;
  hits = 0;
  make: ((v: unknown[]) => object) | null = null;
  constructor(readonly keys: readonly string[]) {}
}
const MAX_SHAPES = 4096;
const MAX_SHAPE_KEYS = 16;
const rootShape = new Shape([]);
let shapes = 0;
let codegen = true;
const valStack: unknown[][] = [];
const keyStack: string[][] = [];

function childShape(s: Shape, k: string): Shape | null {
  if (s.lastKey === k && s.lastChild) return s.lastChild;
  const c = s.next.get(k);
  if (c) {
    s.lastKey = k;
    s.lastChild = c;
    return c;
  }
  if (shapes >= MAX_SHAPES) return null;
  shapes++;
  const made = new Shape([...s.keys, k]);
  s.next.set(k, made);
  return made;
}

function compile(keys: readonly string[]): ((v: unknown[]) => object) | null {
  try {
    const body = keys.map((k, i) => `${JSON.stringify(k)}: v[${i}]`).join(', ');
    return new Function('v', `return { ${body} };`) as (v: unknown[]) => object;
  } catch {
    codegen = false; // --disallow-code-generation-from-strings
    return null;
  }
}

function readObject(n: number, depth: number): object {
  if (n > MAX_SHAPE_KEYS || !codegen) {
    const o: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const k = readKey();
      if (k === '__proto__') throw corrupt('key __proto__');
      o[k] = read(depth + 1);
      overrun();
    }
    return o;
  }
  const vals = (valStack[depth] ??= new Array(MAX_SHAPE_KEYS).fill(undefined));
  const keys = (keyStack[depth] ??= new Array(MAX_SHAPE_KEYS).fill(''));
  let shape: Shape | null = rootShape;
  for (let i = 0; i < n; i++) {
    const k = readKey();
    if (k === '__proto__') throw corrupt('key __proto__');
    keys[i] = k;
    if (shape) shape = childShape(shape, k);
    vals[i] = read(depth + 1);
    overrun();
  }
  let o: object;
  if (shape && (shape.make || (++shape.hits >= 2 && (shape.make = compile(shape.keys))))) {
    o = shape.make(vals);
  } else {
    const rec: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) rec[keys[i]] = vals[i];
    o = rec;
  }
  return o; // (vals keeps its last values until the next object of this depth: at most 16)
}

function corrupt(what: string): CorruptMemoryError {
  return new CorruptMemoryError(`plain-coded value is corrupt: ${what}`);
}

function overrun(): void {
  if (at > end) throw corrupt(`it runs ${at - end} bytes past its end`);
}

function readVarint(): number {
  const first = src[at];
  if (first < 0x80) {
    at++;
    return first;
  }
  let n = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    const b = src[at++];
    n += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return n;
  }
  throw corrupt('varint too long');
}

/** ASCII bytes [o, o + n) of `src` as a string: up to 16 in one fromCharCode, no native call. */
function ascii(o: number, n: number): string {
  const s = src;
  switch (n) {
    case 0:
      return '';
    case 1:
      return fcc(s[o]);
    case 2:
      return fcc(s[o], s[o + 1]);
    case 3:
      return fcc(s[o], s[o + 1], s[o + 2]);
    case 4:
      return fcc(s[o], s[o + 1], s[o + 2], s[o + 3]);
    case 5:
      return fcc(s[o], s[o + 1], s[o + 2], s[o + 3], s[o + 4]);
    case 6:
      return fcc(s[o], s[o + 1], s[o + 2], s[o + 3], s[o + 4], s[o + 5]);
    case 7:
      return fcc(s[o], s[o + 1], s[o + 2], s[o + 3], s[o + 4], s[o + 5], s[o + 6]);
    case 8:
      return fcc(s[o], s[o + 1], s[o + 2], s[o + 3], s[o + 4], s[o + 5], s[o + 6], s[o + 7]);
    case 9:
      return fcc(s[o], s[o + 1], s[o + 2], s[o + 3], s[o + 4], s[o + 5], s[o + 6], s[o + 7], s[o + 8]);
    case 10:
      return fcc(
        s[o],
        s[o + 1],
        s[o + 2],
        s[o + 3],
        s[o + 4],
        s[o + 5],
        s[o + 6],
        s[o + 7],
        s[o + 8],
        s[o + 9],
      );
    case 11:
      return fcc(
        s[o],
        s[o + 1],
        s[o + 2],
        s[o + 3],
        s[o + 4],
        s[o + 5],
        s[o + 6],
        s[o + 7],
        s[o + 8],
        s[o + 9],
        s[o + 10],
      );
    case 12:
      return fcc(
        s[o],
        s[o + 1],
        s[o + 2],
        s[o + 3],
        s[o + 4],
        s[o + 5],
        s[o + 6],
        s[o + 7],
        s[o + 8],
        s[o + 9],
        s[o + 10],
        s[o + 11],
      );
    case 13:
      return fcc(
        s[o],
        s[o + 1],
        s[o + 2],
        s[o + 3],
        s[o + 4],
        s[o + 5],
        s[o + 6],
        s[o + 7],
        s[o + 8],
        s[o + 9],
        s[o + 10],
        s[o + 11],
        s[o + 12],
      );
    case 14:
      return fcc(
        s[o],
        s[o + 1],
        s[o + 2],
        s[o + 3],
        s[o + 4],
        s[o + 5],
        s[o + 6],
        s[o + 7],
        s[o + 8],
        s[o + 9],
        s[o + 10],
        s[o + 11],
        s[o + 12],
        s[o + 13],
      );
    case 15:
      return fcc(
        s[o],
        s[o + 1],
        s[o + 2],
        s[o + 3],
        s[o + 4],
        s[o + 5],
        s[o + 6],
        s[o + 7],
        s[o + 8],
        s[o + 9],
        s[o + 10],
        s[o + 11],
        s[o + 12],
        s[o + 13],
        s[o + 14],
      );
    case 16:
      return fcc(
        s[o],
        s[o + 1],
        s[o + 2],
        s[o + 3],
        s[o + 4],
        s[o + 5],
        s[o + 6],
        s[o + 7],
        s[o + 8],
        s[o + 9],
        s[o + 10],
        s[o + 11],
        s[o + 12],
        s[o + 13],
        s[o + 14],
        s[o + 15],
      );
  }
  if (n > 32) return s.latin1Slice(o, o + n);
  return ascii(o, 16) + ascii(o + 16, n - 16);
}

/**
 * Short ASCII strings repeat from message to message (keys always, values often: tags, names,
 * states). A small cache indexed by length and three bytes returns the string made last time when
 * the bytes match: no allocation, and a key that is already internalized stays fast to store.
 */
const CACHE = 1024;
const cache: string[] = new Array(CACHE).fill('');
const CACHED_MAX = 24;

function cachedAscii(o: number, n: number): string {
  const b = src;
  const h = n === 0 ? 0 : (n * 97 + b[o] * 31 + b[o + n - 1] * 7 + b[o + (n >> 1)]) & (CACHE - 1);
  const k = cache[h];
  if (k.length === n) {
    let i = 0;
    while (i < n && k.charCodeAt(i) === b[o + i]) i++;
    if (i === n) return k;
  }
  return (cache[h] = ascii(o, n));
}

function stringAt(t: number, o: number, n: number): string {
  if (o + n > end) throw corrupt(`string of ${n} bytes runs past the end`);
  // (bytes above 0x7f in an "ASCII" string could only come from corruption; they decode as Latin-1)
  if (t !== T_ASCII) return src.utf8Slice(o, o + n);
  return n <= CACHED_MAX ? cachedAscii(o, n) : ascii(o, n);
}

function readKey(): string {
  const t = src[at++];
  if (t !== T_ASCII && t !== T_UTF8) throw corrupt(`key of type ${t}`);
  const n = readVarint();
  const o = at;
  at += n;
  return stringAt(t, o, n);
}

function read(depth: number): unknown {
  const t = src[at++];
  switch (t) {
    case T_UNDEF:
      return undefined;
    case T_NULL:
      return null;
    case T_TRUE:
      return true;
    case T_FALSE:
      return false;
    case T_INT: {
      const s = src;
      const v = s[at] | (s[at + 1] << 8) | (s[at + 2] << 16) | (s[at + 3] << 24);
      at += 4;
      return v;
    }
    case T_F64: {
      if (at + 8 > end) throw corrupt('float64 runs past the end');
      const v = src.readDoubleLE(at);
      at += 8;
      return v;
    }
    case T_ASCII:
    case T_UTF8: {
      const n = readVarint();
      const o = at;
      at += n;
      return stringAt(t, o, n);
    }
  }
  if (depth >= MAX_DEPTH) throw corrupt('nested too deep');
  if (t === T_ARR) {
    const n = readVarint();
    if (n > end - at) throw corrupt(`array of ${n} items in ${end - at} bytes`);
    const a = new Array(n);
    for (let i = 0; i < n; i++) {
      a[i] = read(depth + 1);
      overrun();
    }
    return a;
  }
  if (t === T_OBJ) {
    const n = readVarint();
    if (n > end - at) throw corrupt(`object of ${n} keys in ${end - at} bytes`);
    return readObject(n, depth);
  }
  throw corrupt(`unknown type ${t} at ${at - 1}`);
}

/** Decodes the `n` plain-coded bytes at `buf[o...]`. Throws CorruptMemoryError for bad bytes. */
export function decodePlain(buf: Buffer, o: number, n: number): unknown {
  src = buf as FastBuffer;
  at = o;
  end = o + n;
  const v = read(0);
  if (at !== end)
    throw corrupt(at > end ? `it runs ${at - end} bytes past its end` : `${end - at} bytes left over`);
  return v;
}
