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

/**
 * A copy of `value` in which each object that `leaf` answers for (anything but undefined) is
 * replaced by that answer. Arrays (holes kept: structuredClone keeps sparse arrays sparse), Maps,
 * Sets and plain objects are copied around them; what v8.serialize clones whole is kept as it is.
 * `seen` maps what was copied to its copy, so shared references and cycles stay so.
 */
function copyReplacing(value: unknown, seen: Map<object, unknown>, leaf: (o: object) => unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const done = seen.get(value);
  if (done !== undefined) return done;
  const replaced = leaf(value);
  if (replaced !== undefined) return replaced;
  const walk = (v: unknown): unknown => copyReplacing(v, seen, leaf);
  if (Array.isArray(value)) {
    const a: unknown[] = new Array(value.length);
    seen.set(value, a);
    someIndex(value, (i) => {
      a[i] = walk(value[i]);
      return false;
    });
    return a;
  }
  if (value instanceof Map) {
    const m = new Map();
    seen.set(value, m);
    for (const [k, v] of value) m.set(walk(k), walk(v));
    return m;
  }
  if (value instanceof Set) {
    const st = new Set();
    seen.set(value, st);
    for (const v of value) st.add(walk(v));
    return st;
  }
  // Cloned whole by v8.serialize; walking their keys would turn them into plain objects.
  if (isCloneLeaf(value)) return value;
  const o: Record<string, unknown> = {};
  seen.set(value, o);
  for (const k of Object.keys(value)) {
    const v = walk((value as Record<string, unknown>)[k]);
    // An own key named __proto__ must stay a key: assigning it would set the prototype instead.
    if (k === '__proto__') Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
    else o[k] = v;
  }
  return o;
}

/**
 * Undoes a {@link copyReplacing} in place, in what v8.deserialize gave: each object that `leaf`
 * answers for becomes that answer (once: a second reference to it gets the same answer).
 */
function restoreReplaced(value: unknown, seen: Map<object, unknown>, leaf: (o: object) => unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (seen.has(value)) return seen.get(value);
  const replaced = leaf(value);
  if (replaced !== undefined) {
    seen.set(value, replaced);
    return replaced;
  }
  seen.set(value, value);
  const walk = (v: unknown): unknown => restoreReplaced(v, seen, leaf);
  if (Array.isArray(value)) {
    someIndex(value, (i) => {
      value[i] = walk(value[i]);
      return false;
    });
  } else if (value instanceof Map) {
    const entries = [...value];
    value.clear();
    for (const [k, v] of entries) value.set(walk(k), walk(v));
  } else if (value instanceof Set) {
    const items = [...value];
    value.clear();
    for (const v of items) value.add(walk(v));
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    const rec = value as Record<string, unknown>;
    for (const k of Object.keys(rec)) rec[k] = walk(rec[k]);
  }
  return value;
}

/** `value` with each SAB, and each view over one, replaced by a marker; the SABs go in `sabs`. */
function replaceSabs(value: unknown, sabs: SharedArrayBuffer[]): unknown {
  const sabMark = (sab: SharedArrayBuffer): number => {
    const i = sabs.indexOf(sab);
    return i < 0 ? sabs.push(sab) - 1 : i;
  };
  return copyReplacing(value, new Map(), (o) => {
    if (o instanceof SharedArrayBuffer) return { [SAB_MARK]: sabMark(o) };
    if (!ArrayBuffer.isView(o) || !(o.buffer instanceof SharedArrayBuffer)) return undefined;
    const length = o instanceof DataView ? o.byteLength : (o as unknown as { length: number }).length;
    return { [SAB_MARK]: sabMark(o.buffer), type: viewType(o), offset: o.byteOffset, length };
  });
}

/** `value` with each error in it replaced by `{ [ERR_MARK]: its record }` (one record per error). */
function replaceErrors(value: unknown): unknown {
  const records = new Map<Error, unknown>();
  return copyReplacing(value, new Map(), (o) => {
    if (!(o instanceof Error)) return undefined;
    let r = records.get(o);
    if (r === undefined) records.set(o, (r = { [ERR_MARK]: errorToRecord(o) }));
    return r;
  });
}

/** The value {@link serializeV8} was given, its errors rebuilt, when it was written with errors. */
function unwrapErrors(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return value;
  if (!Object.hasOwn(value, ERR_WRAP)) return value;
  return restoreReplaced((value as Record<string, unknown>)[ERR_WRAP], new Map(), (o) =>
    Object.getPrototypeOf(o) === Object.prototype && Object.hasOwn(o, ERR_MARK)
      ? recordToError((o as Record<string, unknown>)[ERR_MARK] as ErrorRecord)
      : undefined,
  );
}

/**
 * The global constructor that rebuilds a view: 'Buffer' for a Buffer (so it comes back a Buffer, as
 * the Buffer fast path does), else the built-in type (a subclass of Uint8Array comes back a Uint8Array,
 * as with structuredClone).
 */
function viewType(view: ArrayBufferView): string {
  return Buffer.isBuffer(view) ? 'Buffer' : Object.prototype.toString.call(view).slice(8, -1);
}

/** Undoes {@link replaceSabs} in what v8.deserialize gave: each marker becomes its SAB, or a view over it. */
function restoreSabs(value: unknown, sabs: readonly SharedArrayBuffer[]): unknown {
  return restoreReplaced(value, new Map(), (o) => {
    const mark = (o as Record<string, unknown>)[SAB_MARK];
    if (typeof mark !== 'number') return undefined;
    const sab = sabs[mark];
    if (!sab) throw new CorruptMemoryError(`shared buffer #${mark} is missing from a decoded value`);
    const { type, offset, length } = o as { type?: string; offset: number; length: number };
    if (type === undefined) return sab;
    if (type === 'Buffer') return Buffer.from(sab, offset, length);
    const Ctor = (
      globalThis as unknown as Record<string, new (b: SharedArrayBuffer, o: number, l: number) => unknown>
    )[type];
    return new Ctor(sab, offset, length);
  });
}

const viewSlice = Object.getPrototypeOf(Uint8Array.prototype).slice as (this: ArrayBufferView) => ArrayBufferView;

/**
 * Node's deserializer makes a typed array a view into the bytes it reads (or into Node's shared
 * 8 KiB Buffer pool): `view.buffer` would be those bytes, other values' included, and
 * `new Float64Array(result.buffer)` would read them. Each view gets a buffer of its own instead, as
 * structured clone gives a typed array that owned its buffer.
 */
class OwnBufferDeserializer extends v8.DefaultDeserializer {
  _readHostObject(): unknown {
    const view = (
      v8.DefaultDeserializer.prototype as unknown as { _readHostObject(): ArrayBufferView }
    )._readHostObject.call(this);
    if (view.byteOffset === 0 && view.byteLength === view.buffer.byteLength) return view;
    if (view instanceof DataView)
      return new DataView((view.buffer as ArrayBuffer).slice(view.byteOffset, view.byteOffset + view.byteLength));
    return viewSlice.call(view); // (TypedArray#slice copies; Buffer#slice would be a view)
  }
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
  let problem: ReturnType<typeof findCloneProblem>;
  try {
    problem = findCloneProblem(given, '', new Set(), notes);
  } catch (err) {
    // The check recurses: a value nested thousands deep overflows the stack here. It must still be
    // the named error (a bare RangeError says nothing of which value, or why).
    if (!(err instanceof RangeError && /call stack/.test(err.message))) throw err;
    throw new SerializationError(
      `${label} cannot be copied to another thread: it is nested too deeply (${err.message}); top-level type: ${describeValue(given)}`,
      { cause: err },
    );
  }
  if (problem) {
    throw new SerializationError(`${label}${problem.path} cannot be copied to another thread: it is ${problem.what}`, {
      path: problem.path,
    });
  }
  try {
    const value = notes.errors ? { [ERR_WRAP]: replaceErrors(given) } : given;
    try {
      // A value that visibly holds shared memory at its top level (a task input `{ i, sem }`)
      // skips the attempt that would only abort on it: the common shared-input case pays one pass.
      if (!holdsSharedAtTop(value)) return { bytes: writeV8(value), sabs: null };
    } catch (err) {
      if (err !== SAB_FOUND) throw err;
    }
    const sabs: SharedArrayBuffer[] = [];
    return { bytes: writeV8(replaceSabs(value, sabs)), sabs };
  } catch (err) {
    throw new SerializationError(
      `${label} cannot be copied to another thread (${(err as Error).message}); top-level type: ${describeValue(given)}`,
      { cause: err },
    );
  }
}

/**
 * Reads what {@link serializeV8} wrote; `shared`: the value held SABs, which `sabs` brings back
 * (shared objects among them are revived). Throws {@link CorruptMemoryError} for bytes it cannot read,
 * and {@link SerializationError} for a value nested too deeply for this thread's stack.
 */
export function deserializeV8(
  bytes: Uint8Array,
  shared: boolean,
  sabs: readonly SharedArrayBuffer[] | null | undefined,
): unknown {
  try {
    const d = new OwnBufferDeserializer(bytes as Buffer);
    d.readHeader();
    const value = d.readValue();
    if (!shared) return unwrapErrors(value);
    if (!sabs) throw new CorruptMemoryError('a value with shared buffers arrived without them');
    return unwrapErrors(reviveDeep(restoreSabs(value, sabs)));
  } catch (err) {
    if (err instanceof CorruptMemoryError) throw err;
    // A value this thread's stack cannot rebuild (nested thousands deep: a thread with a bigger
    // stack wrote it) is a value that cannot be copied here, not corrupt memory.
    if (err instanceof RangeError && /call stack/.test(err.message)) {
      throw new SerializationError(`value cannot be read in this thread: it is nested too deeply (${err.message})`, {
        cause: err,
      });
    }
    throw new CorruptMemoryError(
      `serialized value in shared memory cannot be read: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}
