/**
 * The handle protocol: how a shared object crosses to another thread and is rebuilt there.
 *
 * Every shared object keeps all its state in SharedArrayBuffers and exposes exactly one own,
 * enumerable property, `handle`: `{ kind, id, sab, config }`. Everything else is private. So the
 * structured clone of the object (what `postMessage` or `workerData` delivers) is `{ handle }`, and
 * `X.from(received)` rebuilds a live `X` over the same memory, after checking it (shared-object.ts:
 * the one path every kind is built and rebuilt by). Inside skein's own transports (pool task inputs
 * and results, channel messages) {@link reviveDeep} does this for the caller.
 *
 * Within one thread, reviving the same `id` twice returns the same object, so event listeners and
 * local caches attached to it are shared by every copy that arrives.
 */
import { someIndex } from './sparse.js';

/** What travels between threads for a shared object. */
export interface SharedHandle<C = unknown> {
  /** Class name, e.g. `'Semaphore'`; picks the reviver. */
  readonly kind: string;
  /** Unique per object (not per copy); keys the per-thread cache. */
  readonly id: string;
  /** The state, ending in its tag block (shared-tag.ts). */
  readonly sab: SharedArrayBuffer;
  /** Immutable construction options that are not in shared memory (plain data, checked on arrival). */
  readonly config: C;
}

/** A shared object: its `handle` is its only own enumerable property. */
export interface SharedObject {
  readonly handle: SharedHandle;
}

type Reviver = (handle: SharedHandle) => SharedObject;
const revivers = new Map<string, Reviver>();
const live = new Map<string, WeakRef<SharedObject>>();
const cleanup = new FinalizationRegistry<string>((id) => {
  const ref = live.get(id);
  if (ref && ref.deref() === undefined) live.delete(id);
});

/** Called once per kind (by `defineSharedKind`): how to rebuild that kind from its handle. */
export function registerReviver(kind: string, revive: Reviver): void {
  revivers.set(kind, revive);
}

let idCounter = 0;
const idPrefix = `${process.pid.toString(36)}-${Math.random().toString(36).slice(2, 10)}-`;
/** A new process-unique object id. */
export function newSharedId(): string {
  return idPrefix + (idCounter++).toString(36);
}

/** Records `obj` as the live object for its handle in this thread. */
export function adopt<T extends SharedObject>(obj: T): T {
  live.set(obj.handle.id, new WeakRef(obj));
  cleanup.register(obj, obj.handle.id);
  return obj;
}

/** The live object of this thread for object id `id`, if there is one. */
export function liveObject(id: string): SharedObject | undefined {
  return live.get(id)?.deref();
}

/** Whether `x` has the shape of a handle (its memory and configuration are checked later). */
export function isHandle(x: unknown): x is SharedHandle {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as SharedHandle).kind === 'string' &&
    typeof (x as SharedHandle).id === 'string' &&
    (x as SharedHandle).sab instanceof SharedArrayBuffer
  );
}

/** Rebuilds one handle through its registered kind (which checks it); unknown kinds give undefined. */
export function reviveHandle(handle: SharedHandle): SharedObject | undefined {
  return revivers.get(handle.kind)?.(handle);
}

/** Whether `x` is a shared object or its clone: `handle` (a valid handle) is its only own key. */
export function isSharedObjectClone(x: object): boolean {
  return isHandle((x as { handle?: unknown }).handle) && Object.keys(x).length === 1;
}

/** Whether `x` is (the clone of) a shared object whose kind this thread knows. */
function asShared(x: object): SharedObject | undefined {
  const h = (x as { handle?: unknown }).handle;
  if (!isHandle(h) || !revivers.has(h.kind)) return undefined;
  const keys = Object.keys(x);
  return keys.length === 1 ? reviveHandle(h) : undefined;
}

/**
 * The live object of each buffer that arrived as a shared object through the plain codec's
 * shared-memory format, held as long as the buffer is: every later value naming the same buffer
 * gets it without a walk, a lookup by id or `X.from`'s checks. Sharing one object across tasks is
 * safe: a shared object's state is all in its buffer, and what it keeps in the thread (its views,
 * the handle, per-thread caches and listeners) is the same for every copy that arrives (see above).
 * Ephemeron: the object holds its buffer (handle.sab), which does not keep the entry alive.
 */
const bySab = new WeakMap<SharedArrayBuffer, SharedObject>();

/**
 * The live object for a shared object that arrived as (kind, id, buffer): this thread's object for
 * the buffer when it has one of that kind and id; else the one `reviveHandle` gives (checked, kept
 * once per object id), reading `config` only then. An unknown kind gives the clone `{ handle }`,
 * as {@link reviveDeep} leaves it.
 */
export function reviveShared(kind: string, id: string, sab: SharedArrayBuffer, config: () => unknown): unknown {
  const known = bySab.get(sab);
  if (known !== undefined && known.handle.id === id && known.handle.kind === kind) return known;
  const handle: SharedHandle = { kind, id, sab, config: config() };
  const obj = reviveHandle(handle);
  if (obj === undefined) return { handle };
  if (obj.handle.sab === sab) bySab.set(sab, obj);
  return obj;
}

/**
 * Replaces, inside a freshly decoded value, every clone of a shared object with the live object.
 * Walks arrays, plain objects, Maps and Sets; cycles are followed once. `seen` maps each object
 * met to what replaces it, so a clone referenced twice is replaced at both places.
 */
export function reviveDeep(value: unknown, seen = new Map<object, unknown>()): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (seen.has(value)) return seen.get(value);
  seen.set(value, value);
  const shared = asShared(value);
  if (shared) {
    seen.set(value, shared);
    return shared;
  }
  if (Array.isArray(value)) {
    someIndex(value, (i) => {
      value[i] = reviveDeep(value[i], seen);
      return false;
    });
  } else if (value instanceof Map) {
    const entries = [...value];
    value.clear();
    for (const [k, v] of entries) value.set(reviveDeep(k, seen), reviveDeep(v, seen));
  } else if (value instanceof Set) {
    const items = [...value];
    value.clear();
    for (const v of items) value.add(reviveDeep(v, seen));
  } else if (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null) {
    const rec = value as Record<string, unknown>;
    for (const k of Object.keys(rec)) rec[k] = reviveDeep(rec[k], seen);
  }
  return value;
}
