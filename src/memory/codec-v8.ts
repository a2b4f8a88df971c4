/**
 * The codec's general path (tags V8 and V8Shared): `v8.serialize`, for every structured-cloneable
 * value that no fast path takes (codec.ts says which those are).
 *
 * SharedArrayBuffers inside a value travel beside the bytes: V8's serializer can name a SAB by id
 * but Node's deserializer cannot resolve one, so a value holding SABs is rewritten first: each SAB
 * (or typed array over one) becomes a marker `{ [SAB_MARK]: index }` and the SAB goes in a list,
 * which whoever moves the bytes must move too. Finding them costs nothing for values without SABs:
 * the first serializer attempt aborts on the first SAB it meets.
 *
 * Errors inside a value (a task's result `{ ok: false, err }`, a channel message that is an error)
 * would lose their class, own fields and an AggregateError's `errors` to v8.serialize (a
 * DOMException arrives as `{}`): a value holding errors (the clone check notes them, so others pay
 * nothing) is rewritten first, each error becoming `{ [ERR_MARK]: record }` (error-codec.ts, as
 * for a thrown error), inside a wrapper `{ [ERR_WRAP]: value }` that tells the reader to rebuild them.
 */
import v8 from 'node:v8';
import { CorruptMemoryError, SerializationError } from './errors.js';
import { type CloneNotes, findCloneProblem, isCloneLeaf } from './clone-check.js';
import { type ErrorRecord, errorToRecord, recordToError } from './error-codec.js';
import { reviveDeep } from './handle.js';
import { someIndex } from './sparse.js';

const SAB_MARK = '\u0000skein.sab';
const ERR_MARK = '\u0000skein.err';
const ERR_WRAP = '\u0000skein.errs';
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
    someIndex(value, (i) => {
      a[i] = replaceSabs(value[i], sabs, seen);
      return false;
    });
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
    copy = copyOwnKeys(value, seen, (v) => replaceSabs(v, sabs, seen));
  }
  return copy;
}

/** A plain copy of `value`'s own enumerable keys, each value mapped by `map` (noted in `seen` first, for cycles). */
function copyOwnKeys(value: object, seen: Map<object, unknown>, map: (v: unknown) => unknown): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  seen.set(value, o);
  for (const k of Object.keys(value)) {
    const v = map((value as Record<string, unknown>)[k]);
    // An own key named __proto__ must stay a key: assigning it would set the prototype instead.
    if (k === '__proto__') Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
    else o[k] = v;
  }
  return o;
}

/** `value` with each error in it replaced by `{ [ERR_MARK]: its record }` (a copy where it holds one). */
function replaceErrors(value: unknown, seen: Map<object, unknown>): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const done = seen.get(value);
  if (done !== undefined) return done;
  let copy: unknown;
  if (value instanceof Error) {
    copy = { [ERR_MARK]: errorToRecord(value) };
    seen.set(value, copy);
  } else if (Array.isArray(value)) {
    const a: unknown[] = new Array(value.length);
    seen.set(value, a);
    someIndex(value, (i) => {
      a[i] = replaceErrors(value[i], seen);
      return false;
    });
    copy = a;
  } else if (value instanceof Map) {
    const m = new Map();
    seen.set(value, m);
    for (const [k, v] of value) m.set(replaceErrors(k, seen), replaceErrors(v, seen));
    copy = m;
  } else if (value instanceof Set) {
    const st = new Set();
    seen.set(value, st);
    for (const v of value) st.add(replaceErrors(v, seen));
    copy = st;
  } else if (isCloneLeaf(value)) {
    copy = value;
  } else {
    copy = copyOwnKeys(value, seen, (v) => replaceErrors(v, seen));
  }
  return copy;
}

/** Undoes {@link replaceErrors} in place: each `{ [ERR_MARK]: record }` becomes the error again (once per record). */
function restoreErrors(value: unknown, seen: Map<object, unknown>): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (seen.has(value)) return seen.get(value);
  seen.set(value, value);
  if (Array.isArray(value)) {
    someIndex(value, (i) => {
      value[i] = restoreErrors(value[i], seen);
      return false;
    });
  } else if (value instanceof Map) {
    const entries = [...value];
    value.clear();
    for (const [k, v] of entries) value.set(restoreErrors(k, seen), restoreErrors(v, seen));
  } else if (value instanceof Set) {
    const items = [...value];
    value.clear();
    for (const v of items) value.add(restoreErrors(v, seen));
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    const rec = value as Record<string, unknown>;
    if (Object.hasOwn(rec, ERR_MARK)) {
      const err = recordToError(rec[ERR_MARK] as ErrorRecord);
      seen.set(value, err);
      return err;
    }
    for (const k of Object.keys(rec)) rec[k] = restoreErrors(rec[k], seen);
  }
  return value;
}

/** The value {@link serializeV8} was given, its errors rebuilt, when it was written with errors. */
function unwrapErrors(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return value;
  if (!Object.hasOwn(value, ERR_WRAP)) return value;
  return restoreErrors((value as Record<string, unknown>)[ERR_WRAP], new Map());
}

/**
 * The global constructor that rebuilds a view: 'Buffer' for a Buffer (so it comes back a Buffer, as
 * the Buffer fast path does), else the built-in type (a subclass of Uint8Array comes back a Uint8Array,
 * as with structuredClone).
 */
function viewType(view: ArrayBufferView): string {
  return Buffer.isBuffer(view) ? 'Buffer' : Object.prototype.toString.call(view).slice(8, -1);
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
    someIndex(value, (i) => {
      value[i] = restoreSabs(value[i], sabs, seen);
      return false;
    });
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

function isShared(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  if (v instanceof SharedArrayBuffer) return true;
  if (ArrayBuffer.isView(v)) return v.buffer instanceof SharedArrayBuffer;
  const h = (v as { handle?: { sab?: unknown } }).handle;
  return typeof h === 'object' && h !== null && h.sab instanceof SharedArrayBuffer;
}

/**
 * Whether `value` is, or holds within two levels of plain objects and arrays (16 members per level),
 * shared memory. Two levels, because a value commonly carries its shared parts one object down (a
 * chain batch `{ b, s: { stats: sab, hists: [...] } }`): such a value then takes the plain codec's
 * shared format at once, instead of a serializer attempt that aborts on the buffer and a second pass.
 */
export function holdsSharedAtTop(value: unknown): boolean {
  return holdsShared(value, 2);
}

function holdsShared(value: unknown, depth: number): boolean {
  if (isShared(value)) return true;
  if (depth === 0) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length && i < 16; i++) if (holdsShared(value[i], depth - 1)) return true;
  } else if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    let n = 0;
    for (const k in value) {
      if (holdsShared((value as Record<string, unknown>)[k], depth - 1)) return true;
      if (++n >= 16) break;
    }
  }
  return false;
}

/** What a value is, for error messages ("function f", "Map", "symbol"). */
export function describeValue(value: unknown): string {
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'symbol') return value.toString();
  if (typeof value === 'object' && value !== null) return value.constructor?.name ?? 'object';
  return typeof value;
}

/**
 * `value` through v8.serialize: its bytes, and the SharedArrayBuffers it holds (null when none;
 * then the bytes name no SAB). Throws {@link SerializationError} for what cannot be cloned and for
 * what would arrive changed (a class instance: see clone-check.ts), naming where it sits in
 * `label` (what the value is to the caller: `'task input'`, `'task result'`, `'value'`).
 */
export function serializeV8(given: unknown, label = 'value'): { bytes: Buffer; sabs: SharedArrayBuffer[] | null } {
  const notes: CloneNotes = { errors: false };
  const problem = findCloneProblem(given, '', new Set(), notes);
  if (problem) {
    throw new SerializationError(`${label}${problem.path} cannot be copied to another thread: it is ${problem.what}`, {
      path: problem.path,
    });
  }
  const value = notes.errors ? { [ERR_WRAP]: replaceErrors(given, new Map()) } : given;
  try {
    try {
      // A value that visibly holds shared memory at its top level (a task input `{ i, sem }`)
      // skips the attempt that would only abort on it: the common shared-input case pays one pass.
      if (!holdsSharedAtTop(value)) return { bytes: writeV8(value), sabs: null };
    } catch (err) {
      if (err !== SAB_FOUND) throw err;
    }
    const sabs: SharedArrayBuffer[] = [];
    return { bytes: writeV8(replaceSabs(value, sabs, new Map())), sabs };
  } catch (err) {
    throw new SerializationError(
      `${label} cannot be copied to another thread (${(err as Error).message}); top-level type: ${describeValue(given)}`,
      { cause: err },
    );
  }
}

/**
 * Reads what {@link serializeV8} wrote; `shared`: the value held SABs, which `sabs` brings back
 * (shared objects among them are revived). Throws {@link CorruptMemoryError} for bytes it cannot read.
 */
export function deserializeV8(
  bytes: Uint8Array,
  shared: boolean,
  sabs: readonly SharedArrayBuffer[] | null | undefined,
): unknown {
  try {
    const d = new v8.DefaultDeserializer(bytes as Buffer);
    d.readHeader();
    const value = d.readValue();
    if (!shared) return unwrapErrors(value);
    if (!sabs) throw new CorruptMemoryError('a value with shared buffers arrived without them');
    return unwrapErrors(reviveDeep(restoreSabs(value, sabs, new Set())));
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
