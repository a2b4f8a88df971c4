/**
 * Errors across threads: class name, message, stack (the worker's frames), `cause` (recursively) and
 * own fields survive; a thrown non-Error becomes an Error that says what was thrown.
 *
 * The structured clone keeps only message and a few built-in classes, so errors are flattened to a
 * plain record here and rebuilt on the other side. A class the receiving thread knows (built-ins,
 * skein's errors, classes passed to {@link registerErrorClass}) is rebuilt as that class;
 * any other is rebuilt as a subclass of Error with the same name, so `err.name`,
 * `err.constructor.name` and `String(err)` read as they did in the worker.
 */
import { inspect, types } from 'node:util';
import v8 from 'node:v8';
import * as memoryErrors from './errors.js';

export interface ErrorRecord {
  '\u0000skeinError': 1;
  name: string;
  /** `err.constructor.name`: differs from `name` for a class that does not set its own name. */
  className?: string;
  message: string;
  stack?: string;
  cause?: unknown;
  hasCause: boolean;
  fields: Record<string, unknown>;
  errors?: unknown[];
}

type ErrorClass = new (...args: never[]) => Error;
const classes = new Map<string, ErrorClass>();
for (const C of [
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
  AggregateError,
]) {
  classes.set(C.name, C);
}
registerErrorClasses(memoryErrors);

/**
 * Makes errors of class `C` thrown in a worker (or sent inside a value: a task's input or result, a
 * channel message) arrive as `C`: call it in the receiving thread.
 */
export function registerErrorClass(C: ErrorClass): void {
  classes.set(C.name, C);
}

/**
 * Registers every class a module exports (skein's own errors: each layer's errors.ts calls it, so
 * an error of any layer crosses threads as its class, `instanceof` included, in any thread that
 * loaded that layer).
 */
export function registerErrorClasses(mod: Record<string, unknown>): void {
  for (const C of Object.values(mod)) {
    if (typeof C === 'function' && C.prototype instanceof Error) classes.set(C.name, C as ErrorClass);
  }
}

function cloneable(v: unknown): boolean {
  try {
    structuredClone(v);
    return true;
  } catch {
    return false;
  }
}

/**
 * A value as it can travel: its structured clone, so a class instance inside (an HTTP client's
 * request object, say) arrives as the plain object clone makes of it, which the codec would refuse
 * in a result; `NOT_CLONEABLE` when clone refuses it.
 */
const NOT_CLONEABLE = Symbol('not cloneable');
function travelling(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return cloneable(v) ? v : NOT_CLONEABLE;
  try {
    // v8.serialize, as the codec's general path: it keeps a Buffer a Buffer (structuredClone makes
    // it a Uint8Array); it refuses shared memory, which structuredClone keeps
    return v8.deserialize(v8.serialize(v));
  } catch {
    try {
      return structuredClone(v);
    } catch {
      return NOT_CLONEABLE;
    }
  }
}

/** `inspect` that never throws (it runs no getters and no Proxy traps, but a custom inspect may throw). */
function shown(v: unknown): string {
  try {
    return inspect(v, { depth: 2, breakLength: Infinity });
  } catch {
    return '[a value that cannot be inspected]';
  }
}

/** `read()`, or undefined with `what` noted in `lost` when it throws (a getter, a trap). */
function attempt<T>(read: () => T, lost: string[], what: string): T | undefined {
  try {
    return read();
  } catch {
    lost.push(what);
    return undefined;
  }
}

/** Whether `v` is an Error (of this realm, or a native one of another: a `vm` context's), without running a Proxy trap. */
function isError(v: unknown): v is Error {
  if (types.isProxy(v)) return false;
  try {
    return v instanceof Error || types.isNativeError(v);
  } catch {
    return false;
  }
}

const SKIP = new Set(['name', 'message', 'stack', 'cause', 'errors']);
const MARK = '\u0000skeinError';

/**
 * Flattens an error (or any thrown value) into a structured-cloneable record. Never throws: what
 * cannot be read or cloned is left out, and then the record is an UncloneableTaskError's (class
 * name, message, stack and the rest kept, `lost` saying what went), so a hostile error rejects
 * only its own task instead of killing the worker.
 */
export function errorToRecord(err: unknown, depth = 0): ErrorRecord {
  try {
    return recordOf(err, depth);
  } catch {
    return unencodable('Error', 'the task threw a value that could not be read', undefined, ['the whole error']);
  }
}

function recordOf(err: unknown, depth: number): ErrorRecord {
  if (types.isProxy(err)) {
    // Reading a Proxy runs its traps (which may throw, hang or have effects); inspect does not.
    const text = shown(err);
    const first = text.split('\n', 1)[0];
    return unencodable('Proxy', `the task threw a Proxy, which cannot cross threads: ${first}`, text, [
      'the Proxy (its traps are not run)',
    ]);
  }
  if (!isError(err)) {
    const thrown = travelling(err);
    return {
      [MARK]: 1,
      name: 'Error',
      message: `task threw a non-Error value: ${shown(err)}`,
      hasCause: false,
      fields: thrown === NOT_CLONEABLE ? {} : { thrown },
    } as ErrorRecord;
  }
  const lost: string[] = [];
  const e = err as Error & Record<string, unknown>;
  const name = text(attempt(() => e.name, lost, 'name (its getter threw)')) ?? 'Error';
  const className = text(attempt(() => e.constructor?.name, lost, 'class name (its getter threw)'));
  const message = text(attempt(() => e.message, lost, 'message (its getter threw)'));
  const stack = text(attempt(() => e.stack, lost, 'stack (its getter threw)'));
  const fields: Record<string, unknown> = {};
  const aggregate = err instanceof AggregateError;
  for (const k of attempt(() => Object.keys(e), lost, 'own fields') ?? []) {
    // (`errors` is the list of an AggregateError, kept below; on any other error it is a field)
    if (SKIP.has(k) && (k !== 'errors' || aggregate)) continue;
    let v: unknown;
    try {
      v = e[k];
    } catch {
      lost.push(`field '${k}' (its getter threw)`);
      continue;
    }
    const t = travelling(v);
    if (t !== NOT_CLONEABLE) setField(fields, k, t);
    else lost.push(`field '${k}' (not cloneable)`);
  }
  const hasCause = attempt(() => 'cause' in e, lost, 'cause') ?? false;
  let cause: unknown;
  if (hasCause) {
    const c = attempt(() => e.cause, lost, 'cause (its getter threw)');
    if (depth < 8 && (isError(c) || types.isProxy(c))) cause = recordOf(c, depth + 1);
    else if ((cause = travelling(c)) === NOT_CLONEABLE) {
      cause = shown(c);
      lost.push('cause (not cloneable: kept as text)');
    }
  }
  let errors: unknown[] | undefined;
  if (aggregate) {
    const list = attempt(() => Array.from(e.errors as unknown[]), lost, 'errors') ?? [];
    errors = [];
    for (const [i, x] of list.entries()) {
      if (depth < 8 && (isError(x) || types.isProxy(x))) errors.push(recordOf(x, depth + 1));
      else {
        const t = travelling(x);
        if (t !== NOT_CLONEABLE) errors.push(t);
        else lost.push(`errors[${i}] (not cloneable)`);
      }
    }
  }
  if (lost.length > 0) {
    const rec = unencodable(className || name, message ?? `(the ${className || name}'s message could not be read)`, stack, lost);
    return { ...rec, hasCause, cause, errors, fields: { ...fields, ...rec.fields } };
  }
  return { [MARK]: 1, name, className, message: message ?? '', stack, hasCause, cause, fields, errors } as ErrorRecord;
}

/**
 * `o[k] = v` as an own data property: assigning would run a setter on the way (`__proto__`'s, which
 * sets the prototype; a getter-only accessor or a read-only property of the class, which throws).
 */
function setField(o: object, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
}

/** A string as is; anything else as undefined (a `message` that is not a string is not kept). */
function text(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** The record of an UncloneableTaskError standing in for an error that could not be copied whole. */
function unencodable(originalName: string, message: string, stack: string | undefined, lost: string[]): ErrorRecord {
  return {
    [MARK]: 1,
    name: 'UncloneableTaskError',
    className: 'UncloneableTaskError',
    message,
    stack: stack ?? `${originalName}: ${message}\n    (its stack could not be read)`,
    hasCause: false,
    fields: { originalName, lost },
  } as ErrorRecord;
}

/**
 * A record that failed to encode after all (no known case; a safety net for the worker): only its
 * strings are kept.
 */
export function bareRecord(rec: ErrorRecord): ErrorRecord {
  const original = typeof rec.fields.originalName === 'string' ? rec.fields.originalName : rec.className || rec.name;
  return unencodable(original, rec.message, rec.stack, ['everything but the message and the stack']);
}

/**
 * What a task threw, fit to travel as the cause of an error that wraps it: an Error (or a Proxy) as
 * it is (its own record keeps what it can), a value that can be copied as it is, and anything else
 * as the Error that a task throwing it rejects with (`task threw a non-Error value: ...`). Otherwise
 * the wrapper would be the one that cannot be copied whole, and arrive as an UncloneableTaskError.
 */
export function travellingCause(v: unknown): unknown {
  if (isError(v) || types.isProxy(v) || travelling(v) !== NOT_CLONEABLE) return v;
  return recordToError(errorToRecord(v));
}

export function isErrorRecord(x: unknown): x is ErrorRecord {
  return typeof x === 'object' && x !== null && (x as ErrorRecord)['\u0000skeinError'] === 1;
}

const synthetic = new Map<string, ErrorClass>();
function classFor(name: string): ErrorClass {
  const known = classes.get(name);
  if (known) return known;
  let C = synthetic.get(name);
  if (!C) {
    // A subclass of Error whose constructor.name is the remote class's name.
    C = { [name]: class extends Error {} }[name] as ErrorClass;
    synthetic.set(name, C);
  }
  return C;
}

/** An error of the record's class (or a stand-in of that name), its message set. */
function blank(rec: ErrorRecord): Error {
  // A real error object (Error's internal slot: util.types.isNativeError, Error.isError and
  // Object.prototype.toString's '[object Error]' hold, so deep equality treats it as an error) of
  // the class's prototype, made without running the class's constructor. Its stack is replaced
  // below, so none is captured here.
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return Reflect.construct(Error, [rec.message], classFor(rec.className || rec.name)) as Error;
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Rebuilds an error from {@link errorToRecord}'s record. */
export function recordToError(rec: ErrorRecord): Error {
  // A DOMException (what AbortSignal.timeout() and fetch throw) keeps its name and message in
  // internal slots, so it cannot be rebuilt over its prototype: it is made anew, and `code` follows.
  const err = rec.className === 'DOMException' ? new DOMException(rec.message, rec.name) : blank(rec);
  if (rec.stack !== undefined)
    Object.defineProperty(err, 'stack', { value: rec.stack, writable: true, configurable: true });
  if (rec.hasCause) {
    const cause = isErrorRecord(rec.cause) ? recordToError(rec.cause) : rec.cause;
    Object.defineProperty(err, 'cause', { value: cause, writable: true, configurable: true });
  }
  if (rec.errors) {
    Object.defineProperty(err, 'errors', {
      value: rec.errors.map((e) => (isErrorRecord(e) ? recordToError(e) : e)),
      writable: true,
      configurable: true,
    });
  }
  if (err.name !== rec.name)
    Object.defineProperty(err, 'name', { value: rec.name, writable: true, configurable: true });
  if (err instanceof DOMException) return err; // its fields are its slots: none of its own to copy
  // Own fields as the worker's error had them (Object.assign would run the class's setters, and
  // throw here, in the thread that reads the results, for a getter-only or read-only one).
  for (const k of Object.keys(rec.fields)) setField(err, k, rec.fields[k]);
  return err;
}
