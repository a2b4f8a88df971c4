/**
 * The plain codec (codec tag `Plain`): a fast path for the values messages carry most, plain
 * objects and arrays of numbers, strings, booleans, null and undefined (JSON-like data). codec.ts's
 * `encodeTransient` sends plain objects and arrays here first. `v8.serialize` costs about 4 µs for
 * a small object (a fresh serializer per value); plain-encode.ts writes the same value in the
 * compact form below in a few hundred ns, and plain-decode.ts builds the objects back directly,
 * without a deserializer (objects of a shape seen before in one step: plain-shapes.ts).
 *
 * It is exact or it declines, with one exception: anything structured clone would treat differently
 * from this walk (a class instance, a Date, a Map, a typed array, a sparse array, an object reached
 * twice or a cycle, a key named `__proto__`, nesting deeper than {@link MAX_DEPTH}) makes
 * `encodePlain` return -1, and the caller uses the general codec (`encode`). The exception: named
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
 *
 * Shared memory (only in a value encoded with a buffer list, codec tag `PlainShared`; see
 * {@link encodePlainShared} in plain-encode.ts). A SharedArrayBuffer cannot be written into bytes:
 * the list carries the buffers, the bytes carry their index in it (`sab#`, a varint):
 *  10 buffer     sab#
 *  11 view       view type (one byte, {@link VIEW_TYPES}), sab#, varint byteOffset, varint length
 *                (elements; bytes for a DataView)
 *  12 shared obj sab#, kind (string), id (string), u32 LE byte length of the config, the config (a
 *                value). The receiver keeps one live object per buffer (handle.ts `reviveShared`):
 *                the config is read only the first time a thread meets the object.
 */

/** Nesting deeper than this is declined by the encoder and corrupt to the decoder. */
export const MAX_DEPTH = 64;

export const T_UNDEF = 0;
export const T_NULL = 1;
export const T_TRUE = 2;
export const T_FALSE = 3;
export const T_INT = 4;
export const T_F64 = 5;
export const T_ASCII = 6;
export const T_UTF8 = 7;
export const T_ARR = 8;
export const T_OBJ = 9;
export const T_SAB = 10;
export const T_VIEW = 11;
export const T_SHARED = 12;

/** View types by their format code (the index); a view of any other type takes the general codec. */
export const VIEW_TYPES = [
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
  'DataView',
  'Buffer',
] as const;

/** Buffer's native one-encoding helpers: present at runtime, missing from @types/node. */
export type FastBuffer = Buffer & {
  utf8Write(s: string, offset: number, max: number): number;
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
};
