/**
 * The codec: a value to bytes and back, for values that travel through shared memory.
 *
 * Which encoding a value gets:
 *
 *   value                                                   tag                  cost (small value)
 *   undefined, null, booleans                               Undefined..False     none: the tag alone
 *   int32 / other numbers                                   Int32 / Float64      none: `num`
 *   well-formed strings                                     String (UTF-8)       one native copy
 *   Uint8Array, Buffer, ArrayBuffer over unshared memory    Bytes, Buffer, ...   none: the bytes as they are
 *   plain objects and arrays of the above (JSON-like)       Plain                a few hundred ns (plain-codec.ts)
 *   everything else structured clone takes                  V8 / V8Shared        v8.serialize, about 4 us
 *
 * There are two entries. {@link encodeTransient} is the one for a writer that copies the bytes into
 * shared memory at once (a channel; the pool's rings later): it tries the plain codec first for a
 * plain object or array, whose bytes land in a scratch buffer the next call reuses (copy them out
 * first, or take {@link ownEncoded}), and gives every other value, and every plain value the plain
 * codec declines (a cycle, a Date inside, a sparse array...), to {@link encode}. `encode` never
 * uses the plain codec: its bytes are the caller's to keep. {@link decode} reads every tag. The
 * plain codec's one difference from structured clone is that named (non-index) properties of an
 * array are dropped; `encode` keeps them.
 *
 * SharedArrayBuffers inside a value (shared objects carry theirs in `handle.sab`) cannot be put in
 * bytes: they are listed in `Encoded.sabs`, and the bytes refer to them by index; whoever moves the
 * bytes must move that list too (see `Channel`, the pool).
 *
 * A value that cannot be cloned throws {@link SerializationError} from `encode`, before anything
 * is written anywhere.
 */
import v8 from 'node:v8';
import { CorruptMemoryError, SerializationError } from './errors.js';
import { reviveDeep } from './handle.js';
import { decodePlain, encodePlain, plainBuffer } from './plain-codec.js';

export enum Tag {
  Undefined = 0,
  Null = 1,
  True = 2,
  False = 3,
  Int32 = 4,
  Float64 = 5,
  String = 6,
  Bytes = 7,
  Buffer = 8,
  ArrayBuffer = 9,
  V8 = 10,
  /** v8-serialized, with SharedArrayBuffers passed beside the bytes. */
  V8Shared = 11,
  /** A plain object or array in the plain codec's format (plain-codec.ts); its length is in `num`. */
  Plain = 32,
}
/** Highest tag an encoder writes. */
export const MAX_TAG = Tag.Plain;

/**
 * A value ready to be written: `tag`, then `num` (Int32/Float64) or `bytes`. A `Plain` value's
 * bytes are the first `num` bytes of `bytes` (see {@link payloadLength}).
 */
export interface Encoded {
  tag: Tag;
  num: number;
  bytes: Uint8Array | null;
  sabs: SharedArrayBuffer[] | null;
}

// V8's serializer can name a SharedArrayBuffer by id but Node's deserializer cannot resolve one, so
// a value holding SABs is rewritten first: each SAB (or typed array over one) becomes a marker
// `{ [SAB_MARK]: index }` and the SAB goes in `Encoded.sabs`. Finding them costs nothing for values
// without SABs: the first serializer attempt aborts on the first SAB it meets.
const SAB_MARK = '\u0000skein.sab';
const SAB_FOUND = Symbol('sab found');

class SabDetectingSerializer extends v8.DefaultSerializer {
  _getSharedArrayBufferId(): number {
    throw SAB_FOUND;
  }

  // Node's serializer writes every typed array and DataView as a host object, copying its bytes,
  // so a view over a SAB would arrive as a copy: it must count as a SAB too.
  _writeHostObject(view: ArrayBufferView): void {
    if (view.buffer instanceof SharedArrayBuffer) throw SAB_FOUND;
    (
      v8.DefaultSerializer.prototype as unknown as { _writeHostObject(o: unknown): void }
    )._writeHostObject.call(this, view);
  }
}

function replaceSabs(value: unknown, sabs: SharedArrayBuffer[], seen: Map<object, unknown>): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const done = seen.get(value);
  if (done !== undefined) return done;
  if (value instanceof SharedArrayBuffer) {
    let i = sabs.indexOf(value);
    if (i < 0) i = sabs.push(value) - 1;
    return { [SAB_MARK]: i };
  }
  if (ArrayBuffer.isView(value) && value.buffer instanceof SharedArrayBuffer) {
    const sab = replaceSabs(value.buffer, sabs, seen) as Record<string, number>;
    const length =
      value instanceof DataView ? value.byteLength : (value as unknown as { length: number }).length;
    return { [SAB_MARK]: sab[SAB_MARK], type: viewType(value), offset: value.byteOffset, length };
  }
  let copy: unknown;
  if (Array.isArray(value)) {
    // Index by index so holes stay holes (structuredClone keeps sparse arrays sparse).
    const a: unknown[] = new Array(value.length);
    seen.set(value, a);
    for (let i = 0; i < value.length; i++) if (i in value) a[i] = replaceSabs(value[i], sabs, seen);
    copy = a;
  } else if (value instanceof Map) {
    const m = new Map();
    seen.set(value, m);
    for (const [k, v] of value) m.set(replaceSabs(k, sabs, seen), replaceSabs(v, sabs, seen));
    copy = m;
  } else if (value instanceof Set) {
    const st = new Set();
    seen.set(value, st);
    for (const v of value) st.add(replaceSabs(v, sabs, seen));
    copy = st;
  } else if (isCloneLeaf(value)) {
    // Cloned whole by v8.serialize; walking their keys would turn them into plain objects.
    copy = value;
  } else {
    const o: Record<string, unknown> = {};
    seen.set(value, o);
    for (const k of Object.keys(value)) o[k] = replaceSabs((value as Record<string, unknown>)[k], sabs, seen);
    copy = o;
  }
  return copy;
}

/**
 * The global constructor that rebuilds a view: 'Buffer' for a Buffer (so it comes back a Buffer, as
 * the Buffer fast path does), else the built-in type (a subclass of Uint8Array comes back a Uint8Array,
 * as with structuredClone).
 */
function viewType(view: ArrayBufferView): string {
  return Buffer.isBuffer(view) ? 'Buffer' : Object.prototype.toString.call(view).slice(8, -1);
}

/** Objects v8.serialize clones as a unit (boxed primitives, dates, errors, unshared buffers). */
function isCloneLeaf(value: object): boolean {
  return (
    value instanceof Error ||
    ArrayBuffer.isView(value) ||
    value instanceof ArrayBuffer ||
    value instanceof Date ||
    value instanceof RegExp ||
    value instanceof Number ||
    value instanceof String ||
    value instanceof Boolean ||
    value instanceof BigInt
  );
}

function restoreSabs(value: unknown, sabs: readonly SharedArrayBuffer[], seen: Set<object>): unknown {
  if (typeof value !== 'object' || value === null || seen.has(value)) return value;
  seen.add(value);
  const mark = (value as Record<string, unknown>)[SAB_MARK];
  if (typeof mark === 'number') {
    const sab = sabs[mark];
    if (!sab) throw new CorruptMemoryError(`shared buffer #${mark} is missing from a decoded value`);
    const { type, offset, length } = value as { type?: string; offset: number; length: number };
    if (type === undefined) return sab;
    if (type === 'Buffer') return Buffer.from(sab, offset, length);
    const Ctor = (
      globalThis as unknown as Record<string, new (b: SharedArrayBuffer, o: number, l: number) => unknown>
    )[type];
    return new Ctor(sab, offset, length);
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (i in value) value[i] = restoreSabs(value[i], sabs, seen);
  } else if (value instanceof Map) {
    const entries = [...value];
    value.clear();
    for (const [k, v] of entries) value.set(restoreSabs(k, sabs, seen), restoreSabs(v, sabs, seen));
  } else if (value instanceof Set) {
    const items = [...value];
    value.clear();
    for (const v of items) value.add(restoreSabs(v, sabs, seen));
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    const rec = value as Record<string, unknown>;
    for (const k of Object.keys(rec)) rec[k] = restoreSabs(rec[k], sabs, seen);
  }
  return value;
}

function writeV8(value: unknown): Buffer {
  const s = new SabDetectingSerializer();
  s.writeHeader();
  s.writeValue(value);
  return s.releaseBuffer();
}

function describe(value: unknown): string {
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'symbol') return value.toString();
  if (typeof value === 'object' && value !== null) return value.constructor?.name ?? 'object';
  return typeof value;
}

function serialize(value: unknown, out: Encoded): void {
  try {
    try {
      out.bytes = writeV8(value);
      out.tag = Tag.V8;
    } catch (err) {
      if (err !== SAB_FOUND) throw err;
      const sabs: SharedArrayBuffer[] = [];
      out.bytes = writeV8(replaceSabs(value, sabs, new Map()));
      out.tag = Tag.V8Shared;
      out.sabs = sabs;
    }
  } catch (err) {
    throw new SerializationError(
      `value cannot be copied to another thread (${(err as Error).message}); top-level type: ${describe(value)}`,
      { cause: err },
    );
  }
}

/** A fresh, empty {@link Encoded} (reuse one per writer to avoid an allocation per value). */
export function newEncoded(): Encoded {
  return { tag: Tag.Undefined, num: 0, bytes: null, sabs: null };
}

/** Encodes `value` into `out` (reused) and returns it. */
export function encode(value: unknown, out: Encoded = newEncoded()): Encoded {
  out.bytes = null;
  out.sabs = null;
  out.num = 0;
  switch (typeof value) {
    case 'number':
      out.num = value;
      out.tag = (value | 0) === value && !Object.is(value, -0) ? Tag.Int32 : Tag.Float64;
      return out;
    case 'string':
      // UTF-8 cannot hold a lone surrogate (it would come back as U+FFFD): such rare strings take
      // the serializer, which keeps UTF-16 exactly.
      if (!(value as unknown as { isWellFormed(): boolean }).isWellFormed()) break;
      out.tag = Tag.String;
      out.bytes = Buffer.from(value, 'utf8');
      return out;
    case 'boolean':
      out.tag = value ? Tag.True : Tag.False;
      return out;
    case 'undefined':
      out.tag = Tag.Undefined;
      return out;
    case 'function':
    case 'symbol':
      throw new SerializationError(`value cannot be copied to another thread: ${describe(value)}`);
  }
  if (value === null) {
    out.tag = Tag.Null;
    return out;
  }
  const proto = Object.getPrototypeOf(value);
  if (typeof value !== 'object' || (ArrayBuffer.isView(value) && value.buffer instanceof SharedArrayBuffer)) {
    // Bigints and ill-formed strings; views over shared memory, which must stay shared, not be copied.
    serialize(value, out);
  } else if (proto === Uint8Array.prototype) {
    out.tag = Tag.Bytes;
    out.bytes = value as Uint8Array;
  } else if (proto === Buffer.prototype) {
    out.tag = Tag.Buffer;
    out.bytes = value as Buffer;
  } else if (proto === ArrayBuffer.prototype) {
    out.tag = Tag.ArrayBuffer;
    out.bytes = new Uint8Array(value as ArrayBuffer);
  } else {
    serialize(value, out);
  }
  return out;
}

/**
 * Encodes `value` into `out` (reused) through the plain codec when it is a plain object or array
 * the plain codec takes, else through {@link encode}. A `Plain` result's `bytes` are the plain
 * codec's scratch buffer (its first `num` bytes), valid until the next `encodeTransient` in this
 * thread: copy them into shared memory at once, or keep {@link ownEncoded}.
 *
 * @example
 * ```ts
 * const e = encodeTransient({ id: 1, tags: ['a'] }, scratch);   // e.tag === Tag.Plain
 * ring.set(e.bytes.subarray(0, payloadLength(e)), at);          // copy before the next encode
 * ```
 */
export function encodeTransient(value: unknown, out: Encoded = newEncoded()): Encoded {
  const proto = typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) : undefined;
  const n = proto === Object.prototype || proto === Array.prototype ? encodePlain(value as object) : -1;
  if (n < 0) return encode(value, out);
  out.tag = Tag.Plain;
  out.num = n;
  out.bytes = plainBuffer();
  out.sabs = null;
  return out;
}

/**
 * A copy of `e` that owns its bytes, for a writer that keeps them past the next encode: the plain
 * codec's scratch buffer is reused, and the caller may change a Uint8Array or ArrayBuffer it passed.
 * (Strings and v8-serialized values already have bytes of their own.)
 */
export function ownEncoded(e: Encoded): Encoded {
  const fresh = e.tag === Tag.String || e.tag === Tag.V8 || e.tag === Tag.V8Shared;
  // TypedArray#slice copies (Buffer#slice would be a view)
  const bytes = e.bytes && !fresh ? Uint8Array.prototype.slice.call(e.bytes, 0, payloadLength(e)) : e.bytes;
  return { tag: e.tag, num: e.num, sabs: e.sabs, bytes };
}

/** Payload length in bytes of an encoded value (numbers: 4 or 8; Plain: `num`). */
export function payloadLength(e: Encoded): number {
  if (e.tag === Tag.Int32) return 4;
  if (e.tag === Tag.Float64) return 8;
  if (e.tag === Tag.Plain) return e.num;
  return e.bytes ? e.bytes.byteLength : 0;
}

/**
 * Decodes a payload that was copied out of shared memory into `bytes` (which the result may keep).
 * Throws {@link CorruptMemoryError} for a tag or length no encoder writes.
 */
export function decode(tag: number, bytes: Uint8Array, sabs?: readonly SharedArrayBuffer[] | null): unknown {
  switch (tag) {
    case Tag.Undefined:
      return undefined;
    case Tag.Null:
      return null;
    case Tag.True:
      return true;
    case Tag.False:
      return false;
    case Tag.Int32:
      if (bytes.byteLength !== 4) break;
      return new DataView(bytes.buffer, bytes.byteOffset, 4).getInt32(0, true);
    case Tag.Float64:
      if (bytes.byteLength !== 8) break;
      return new DataView(bytes.buffer, bytes.byteOffset, 8).getFloat64(0, true);
    case Tag.String:
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    case Tag.Bytes:
      return bytes;
    case Tag.Buffer:
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    case Tag.ArrayBuffer:
      return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
        ? bytes.buffer
        : bytes.slice().buffer;
    case Tag.V8:
    case Tag.V8Shared:
      return deserialize(tag, bytes, sabs);
    case Tag.Plain:
      return decodePlain(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.byteLength);
  }
  throw new CorruptMemoryError(
    Tag[tag] === undefined
      ? `unknown value tag ${tag} in shared memory`
      : `payload of ${bytes.byteLength} bytes does not fit tag ${tag}`,
  );
}

function deserialize(tag: number, bytes: Uint8Array, sabs?: readonly SharedArrayBuffer[] | null): unknown {
  try {
    const d = new v8.DefaultDeserializer(bytes as Buffer);
    d.readHeader();
    const value = d.readValue();
    if (tag !== Tag.V8Shared) return value;
    if (!sabs) throw new CorruptMemoryError('a value with shared buffers arrived without them');
    return reviveDeep(restoreSabs(value, sabs, new Set()));
  } catch (err) {
    if (err instanceof CorruptMemoryError) throw err;
    throw new CorruptMemoryError(
      `serialized value in shared memory cannot be read: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/** Encodes and decodes in one step: a structured clone that also revives shared objects. */
export function roundTrip<T>(value: T): T {
  const e = encode(value);
  if (e.tag === Tag.Int32 || e.tag === Tag.Float64) return e.num as T;
  return decode(e.tag, e.bytes ? e.bytes.slice() : new Uint8Array(0), e.sabs) as T;
}
