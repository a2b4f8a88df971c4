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
 *   plain objects and arrays of the above (JSON-like)       Plain                a few hundred ns (plain-format.ts)
 *   the same holding shared memory (buffers, views over     PlainShared          the same; a shared object
 *     them, shared objects), or one of those alone                                 is a few bytes (below)
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
 * bytes must move that list too (see `Channel`, the pool; {@link carriesSabs} says which tags have
 * one). `encode` gives a value that holds shared memory at its top level (a task input `{ i, sem }`,
 * a typed array) to the plain codec's shared-memory format first (tag PlainShared): a shared object
 * is its buffer's index, kind, id and config (copied from a cache per object), a view its type,
 * index, offset and length, and the receiver keeps one live object per buffer, so it is rebuilt and
 * checked once per thread, not once per value (handle.ts `reviveShared`). What it declines takes
 * v8.serialize (tag V8Shared). Either way an array's named properties are dropped in a value that
 * holds shared memory (the general path rebuilds such a value's arrays index by index).
 *
 * A value that cannot be cloned throws {@link SerializationError} from `encode`, before anything
 * is written anywhere.
 */
import { describeValue, deserializeV8, holdsSharedAtTop, serializeV8 } from './codec-v8.js';
import { CorruptMemoryError, SerializationError } from './errors.js';
import { decodePlain } from './plain-decode.js';
import { encodePlain, encodePlainShared, plainBuffer, plainCopy } from './plain-encode.js';

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
  /** A plain object or array in the plain codec's format (plain-format.ts); its length is in `num`. */
  Plain = 32,
  /** The plain codec's format with shared memory, its SharedArrayBuffers passed beside the bytes. */
  PlainShared = 33,
}
/** Highest tag an encoder writes. */
export const MAX_TAG = Tag.PlainShared;

/** Whether a value of this tag comes with a list of SharedArrayBuffers (`Encoded.sabs`) to move beside it. */
export function carriesSabs(tag: number): boolean {
  return tag === Tag.V8Shared || tag === Tag.PlainShared;
}

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

function serialize(value: unknown, out: Encoded, label: string): void {
  if (typeof value === 'object' && value !== null && holdsSharedAtTop(value) && encodeShared(value, out)) return;
  const { bytes, sabs } = serializeV8(value, label);
  out.tag = sabs ? Tag.V8Shared : Tag.V8;
  out.bytes = bytes;
  out.sabs = sabs;
}

/** The shared-memory plain format into `out`, with bytes of its own; false when it declines. */
function encodeShared(value: object, out: Encoded): boolean {
  const sabs: SharedArrayBuffer[] = [];
  const n = encodePlainShared(value, sabs);
  if (n < 0 || sabs.length === 0) return false;
  out.tag = Tag.PlainShared;
  out.num = n;
  out.bytes = plainCopy(n); // the scratch buffer is reused
  out.sabs = sabs;
  return true;
}

/** A fresh, empty {@link Encoded} (reuse one per writer to avoid an allocation per value). */
export function newEncoded(): Encoded {
  return { tag: Tag.Undefined, num: 0, bytes: null, sabs: null };
}

/**
 * Encodes `value` into `out` (reused) and returns it. `label` names the value in a
 * SerializationError (`'task input'` gives "task input.items[2] is a function ...").
 */
export function encode(value: unknown, out: Encoded = newEncoded(), label = 'value'): Encoded {
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
      throw new SerializationError(`${label} cannot be copied to another thread: it is ${describeValue(value)}`, {
        path: '',
      });
  }
  if (value === null) {
    out.tag = Tag.Null;
    return out;
  }
  const proto = Object.getPrototypeOf(value);
  if (
    typeof value !== 'object' ||
    (ArrayBuffer.isView(value) && (value.buffer instanceof SharedArrayBuffer || value.byteLength === 0)) ||
    (proto === ArrayBuffer.prototype && (value as ArrayBuffer).byteLength === 0)
  ) {
    // Bigints and ill-formed strings; views over shared memory, which must stay shared, not be
    // copied; and empty buffers and views, which may be detached (transferred away): the serializer
    // refuses those, where the byte paths below would send them empty.
    serialize(value, out, label);
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
    serialize(value, out, label);
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
  const fresh = e.tag === Tag.String || e.tag === Tag.V8 || e.tag === Tag.V8Shared || e.tag === Tag.PlainShared;
  // TypedArray#slice copies (Buffer#slice would be a view)
  const bytes = e.bytes && !fresh ? Uint8Array.prototype.slice.call(e.bytes, 0, payloadLength(e)) : e.bytes;
  return { tag: e.tag, num: e.num, sabs: e.sabs, bytes };
}

/**
 * The value of an {@link Encoded} whose bytes the caller owns (one that came by postMessage: a
 * postMessage of the value itself would turn a Buffer into a Uint8Array; its encoding does not).
 */
export function decodeOwned(e: Encoded): unknown {
  if (e.tag === Tag.Int32 || e.tag === Tag.Float64) return e.num;
  return decode(e.tag, e.bytes ?? new Uint8Array(0), e.sabs);
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
      return deserializeV8(bytes, tag === Tag.V8Shared, sabs);
    case Tag.Plain:
      return decodePlain(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.byteLength);
    case Tag.PlainShared:
      if (!sabs) throw new CorruptMemoryError('a value with shared buffers arrived without them');
      return decodePlain(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.byteLength, sabs);
  }
  throw new CorruptMemoryError(
    Tag[tag] === undefined
      ? `unknown value tag ${tag} in shared memory`
      : `payload of ${bytes.byteLength} bytes does not fit tag ${tag}`,
  );
}

/** Encodes and decodes in one step: a structured clone that also revives shared objects. */
export function roundTrip<T>(value: T): T {
  const e = encode(value);
  if (e.tag === Tag.Int32 || e.tag === Tag.Float64) return e.num as T;
  // TypedArray#slice copies (Buffer#slice would be a view over the caller's memory)
  const bytes = e.bytes ? Uint8Array.prototype.slice.call(e.bytes) : new Uint8Array(0);
  return decode(e.tag, bytes, e.sabs) as T;
}
