/**
 * What structured clone would refuse or silently change in a value, and where.
 *
 * `v8.serialize` copies a class instance as a plain object: its prototype and methods are gone, a
 * class with private fields arrives as `{}`, a crypto `Hash` as `{ _options: undefined }`. skein
 * refuses such a value with a `SerializationError` naming the path instead of losing it silently.
 * What may cross: primitives, plain objects and arrays, Map, Set, Date, RegExp, boxed primitives,
 * errors, (Shared)ArrayBuffers and their views, and shared objects (which cross by handle).
 * The walk runs only on the codec's general path (the plain fast path takes plain data alone) and
 * again, to name the spot, when v8 refuses a value.
 */
import { isSharedObjectClone } from './handle.js';
import { someIndex } from './sparse.js';
import { isThenable } from './thenable.js';

/** Where the first problem sits (`input.items[2].fn`-style, relative to the root) and what it is. */
export interface CloneProblem {
  readonly path: string;
  readonly what: string;
}

const IDENT = /^[A-Za-z_$][\w$]*$/;
const keyPath = (path: string, k: string): string => (IDENT.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`);

/** Objects v8.serialize clones as a unit (boxed primitives, dates, errors, buffers and views). */
export function isCloneLeaf(v: object): boolean {
  return (
    v instanceof Error ||
    ArrayBuffer.isView(v) ||
    v instanceof ArrayBuffer ||
    v instanceof SharedArrayBuffer ||
    v instanceof Date ||
    v instanceof RegExp ||
    v instanceof Number ||
    v instanceof String ||
    v instanceof Boolean ||
    v instanceof BigInt
  );
}

/** What {@link findCloneProblem} saw on its way: `errors`, whether the value holds an error. */
export interface CloneNotes {
  errors: boolean;
}

/**
 * The first thing in `value` that would not arrive as it is, or undefined when all of it would.
 * `notes.errors` is set when the value holds an error (which v8.serialize would copy without its
 * class, own fields or `errors`: codec-v8.ts carries errors by record instead).
 */
export function findCloneProblem(
  value: unknown,
  path = '',
  seen = new Set<object>(),
  notes?: CloneNotes,
): CloneProblem | undefined {
  if (typeof value === 'function') return { path, what: `a function (${value.name || 'anonymous'})` };
  if (typeof value === 'symbol') return { path, what: `a symbol (${value.toString()})` };
  if (typeof value !== 'object' || value === null || seen.has(value)) return undefined;
  seen.add(value);
  if (isCloneLeaf(value)) {
    if (notes && value instanceof Error) notes.errors = true;
    return undefined;
  }
  if (Array.isArray(value)) {
    let p: CloneProblem | undefined;
    someIndex(value, (i) => (p = findCloneProblem(value[i], `${path}[${i}]`, seen, notes)) !== undefined);
    return p;
  }
  if (value instanceof Map) {
    let i = 0;
    for (const [k, v] of value) {
      const p = findCloneProblem(k, `${path}.<map key ${i}>`, seen, notes) ?? findCloneProblem(v, `${path}.<map value ${i}>`, seen, notes);
      if (p) return p;
      i++;
    }
    return undefined;
  }
  if (value instanceof Set) {
    let i = 0;
    for (const v of value) {
      const p = findCloneProblem(v, `${path}.<set item ${i++}>`, seen, notes);
      if (p) return p;
    }
    return undefined;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    if (isSharedObjectClone(value)) return undefined;
    const name = (value as { constructor?: { name?: string } }).constructor?.name || 'anonymous';
    // Most often a missing `await` (`pool.submit(load(x))`): say so, not "send plain data".
    if (isThenable(value)) {
      return { path, what: `a promise (${name}): await it and pass the value it resolves to` };
    }
    return {
      path,
      what: `an instance of class ${name}, which would arrive as a plain object without its prototype, methods or private fields (send plain data, e.g. { ...obj } or obj.toJSON())`,
    };
  }
  for (const k of Object.keys(value)) {
    const p = findCloneProblem((value as Record<string, unknown>)[k], keyPath(path, k), seen, notes);
    if (p) return p;
  }
  return undefined;
}
