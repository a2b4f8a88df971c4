/**
 * The plain codec's decoder (format: plain-format.ts): builds the value straight from the bytes.
 *
 * Reads do not check every byte against the end: a read past it yields `undefined` (past the
 * buffer) or bytes of a neighbouring record, and is caught by the checks at every item of an
 * array or object and at the end (`at` must land exactly on `end`). Counts are checked against the
 * bytes left before anything is allocated for them, so corrupt input cannot make a huge array.
 */
import { CorruptMemoryError } from './errors.js';
import { reviveShared } from './handle.js';
import * as F from './plain-format.js';
import { canCompile, childShape, factoryOf, MAX_SHAPE_KEYS, ROOT_SHAPE, type Shape } from './plain-shapes.js';

let src = Buffer.alloc(0) as F.FastBuffer;
let at = 0;
let end = 0;
/** The buffers a `PlainShared` value's bytes index (format codes 10-12); null for a `Plain` one. */
let sabsIn: readonly SharedArrayBuffer[] | null = null;
const fcc = String.fromCharCode;

const valStack: unknown[][] = [];
const keyStack: string[][] = [];

function readObject(n: number, depth: number): object {
  if (n > MAX_SHAPE_KEYS || !canCompile()) {
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
  let shape: Shape | null = ROOT_SHAPE;
  for (let i = 0; i < n; i++) {
    const k = readKey();
    if (k === '__proto__') throw corrupt('key __proto__');
    keys[i] = k;
    if (shape) shape = childShape(shape, k);
    vals[i] = read(depth + 1);
    overrun();
  }
  const make = shape && factoryOf(shape);
  if (make) return make(vals); // (vals keeps its last values until the next object of this depth)
  const rec: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) rec[keys[i]] = vals[i];
  return rec;
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

type AsciiReader = (s: Uint8Array, o: number) => string;

/**
 * Readers of n <= 16 ASCII bytes as a string, `(s, o) => fcc(s[o], s[o + 1], ...)` for each n: one
 * String.fromCharCode call and no native call (Buffer#latin1Slice costs about 3x more on short
 * strings). Compiled once, like the shape factories (the same 17 calls written out in a switch are
 * within 2 ns); without code generation from strings, fcc.apply over an array (about 2x slower).
 */
const asciiReaders = compileAsciiReaders();

function compileAsciiReaders(): AsciiReader[] {
  const readers: AsciiReader[] = [];
  try {
    for (let n = 0; n <= 16; n++) {
      const args = Array.from({ length: n }, (_, i) => `s[o + ${i}]`).join(', ');
      readers.push(new Function('fcc', `return (s, o) => fcc(${args});`)(fcc) as AsciiReader);
    }
    return readers;
  } catch {
    // --disallow-code-generation-from-strings
    for (let n = 0; n <= 16; n++) {
      const codes = new Array<number>(n).fill(0);
      readers[n] = (s, o) => {
        for (let i = 0; i < n; i++) codes[i] = s[o + i];
        return fcc(...codes);
      };
    }
    return readers;
  }
}

/** ASCII bytes [o, o + n) of `src` as a string. */
function ascii(o: number, n: number): string {
  if (n <= 16) return asciiReaders[n](src, o);
  if (n > 32) return src.latin1Slice(o, o + n);
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
  if (t !== F.T_ASCII) return src.utf8Slice(o, o + n);
  return n <= CACHED_MAX ? cachedAscii(o, n) : ascii(o, n);
}

function readKey(): string {
  const t = src[at++];
  if (t !== F.T_ASCII && t !== F.T_UTF8) throw corrupt(`key of type ${t}`);
  const n = readVarint();
  const o = at;
  at += n;
  return stringAt(t, o, n);
}

function read(depth: number): unknown {
  const t = src[at++];
  switch (t) {
    case F.T_UNDEF:
      return undefined;
    case F.T_NULL:
      return null;
    case F.T_TRUE:
      return true;
    case F.T_FALSE:
      return false;
    case F.T_INT: {
      const s = src;
      const v = s[at] | (s[at + 1] << 8) | (s[at + 2] << 16) | (s[at + 3] << 24);
      at += 4;
      return v;
    }
    case F.T_F64: {
      if (at + 8 > end) throw corrupt('float64 runs past the end');
      const v = src.readDoubleLE(at);
      at += 8;
      return v;
    }
    case F.T_ASCII:
    case F.T_UTF8: {
      const n = readVarint();
      const o = at;
      at += n;
      return stringAt(t, o, n);
    }
  }
  if (depth >= F.MAX_DEPTH) throw corrupt('nested too deep');
  if (t === F.T_ARR) {
    const n = readVarint();
    if (n > end - at) throw corrupt(`array of ${n} items in ${end - at} bytes`);
    const a = new Array(n);
    for (let i = 0; i < n; i++) {
      a[i] = read(depth + 1);
      overrun();
    }
    return a;
  }
  if (t === F.T_OBJ) {
    const n = readVarint();
    if (n > end - at) throw corrupt(`object of ${n} keys in ${end - at} bytes`);
    return readObject(n, depth);
  }
  if (t === F.T_SAB) return sabAt(readVarint());
  if (t === F.T_VIEW) return readView();
  if (t === F.T_SHARED) return readShared(depth);
  throw corrupt(`unknown type ${t} at ${at - 1}`);
}

function sabAt(i: number): SharedArrayBuffer {
  if (sabsIn === null) throw corrupt('it names a shared buffer but came without any');
  const sab = sabsIn[i];
  if (sab === undefined) throw new CorruptMemoryError(`shared buffer #${i} is missing from a decoded value`);
  return sab;
}

type ViewCtor = new (b: SharedArrayBuffer, offset: number, length: number) => ArrayBufferView;
const viewCtors: (ViewCtor | null)[] = F.VIEW_TYPES.map((name) =>
  name === 'Buffer' ? null : (globalThis as unknown as Record<string, ViewCtor>)[name],
);

/** A fresh view per value (about 20 ns), as structured clone gives: no state is shared between tasks. */
function readView(): ArrayBufferView {
  const code = src[at++];
  const sab = sabAt(readVarint());
  const offset = readVarint();
  const length = readVarint();
  overrun();
  if (!(code < viewCtors.length)) throw corrupt(`unknown view type ${code}`);
  const Ctor = viewCtors[code];
  try {
    return Ctor === null ? Buffer.from(sab, offset, length) : new Ctor(sab, offset, length);
  } catch (err) {
    throw new CorruptMemoryError(`plain-coded value is corrupt: a view out of its buffer's bounds`, { cause: err });
  }
}

/** A shared object: the live one of this thread for its buffer; its config is read only to build it. */
function readShared(depth: number): unknown {
  const sab = sabAt(readVarint());
  const kind = readKey();
  const id = readKey();
  if (at + 4 > end) throw corrupt('shared object runs past the end');
  const n = src.readUInt32LE(at);
  const cfgAt = (at += 4);
  at += n;
  overrun();
  // Building the object runs its kind's checks and constructor: restore this walk's state after, in
  // case anything there decodes too.
  const s = src;
  const e = end;
  const list = sabsIn;
  const after = at;
  try {
    return reviveShared(kind, id, sab, () => {
      at = cfgAt;
      end = cfgAt + n;
      const config = read(depth + 1);
      if (at !== end) throw corrupt('shared object config does not fill its bytes');
      return config;
    });
  } finally {
    src = s;
    end = e;
    sabsIn = list;
    at = after;
  }
}

/**
 * Decodes the `n` plain-coded bytes at `buf[o...]`; `sabs`: the buffers of a `PlainShared` value.
 * Throws CorruptMemoryError for bad bytes.
 */
export function decodePlain(buf: Buffer, o: number, n: number, sabs: readonly SharedArrayBuffer[] | null = null): unknown {
  src = buf as F.FastBuffer;
  at = o;
  end = o + n;
  sabsIn = sabs;
  try {
    const v = read(0);
    if (at !== end)
      throw corrupt(at > end ? `it runs ${at - end} bytes past its end` : `${end - at} bytes left over`);
    return v;
  } finally {
    sabsIn = null;
  }
}
