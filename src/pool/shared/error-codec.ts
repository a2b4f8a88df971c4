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
import { inspect } from 'node:util';
import * as memoryErrors from '../../memory/errors.js';
import * as poolErrors from '../errors.js';

interface ErrorRecord {
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
for (const mod of [memoryErrors, poolErrors]) {
  for (const C of Object.values(mod)) if (typeof C === 'function') classes.set(C.name, C as ErrorClass);
}

/** Makes errors of class `C` thrown in a worker arrive as `C` (call it in the receiving thread). */
export function registerErrorClass(C: ErrorClass): void {
  classes.set(C.name, C);
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
 * An error's field as it can travel: its structured clone, so a class instance inside (an HTTP
 * client's request object, say) arrives as the plain object clone makes of it, which the codec
 * would refuse in a result; `NOT_CLONEABLE` when clone refuses it.
 */
const NOT_CLONEABLE = Symbol('not cloneable');
function travelling(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return cloneable(v) ? v : NOT_CLONEABLE;
  try {
    return structuredClone(v);
  } catch {
    return NOT_CLONEABLE;
  }
}

const SKIP = new Set(['name', 'message', 'stack', 'cause', 'errors']);

/** Flattens an error (or any thrown value) into a structured-cloneable record. */
export function errorToRecord(err: unknown, depth = 0): ErrorRecord {
  if (!(err instanceof Error)) {
    const shown = inspect(err, { depth: 2, breakLength: Infinity });
    return {
      '\u0000skeinError': 1,
      name: 'Error',
      message: `task threw a non-Error value: ${shown}`,
      hasCause: false,
      fields: cloneable(err) ? { thrown: err } : {},
    };
  }
  const fields: Record<string, unknown> = {};
  for (const k of Object.keys(err)) {
    if (SKIP.has(k)) continue;
    const v = travelling((err as unknown as Record<string, unknown>)[k]);
    if (v !== NOT_CLONEABLE) fields[k] = v;
  }
  const hasCause = 'cause' in err;
  const cause = (err as { cause?: unknown }).cause;
  return {
    '\u0000skeinError': 1,
    name: err.name,
    className: err.constructor?.name,
    message: err.message,
    stack: err.stack,
    hasCause,
    cause: !hasCause
      ? undefined
      : depth < 8 && cause instanceof Error
        ? errorToRecord(cause, depth + 1)
        : cloneable(cause)
          ? cause
          : String(cause),
    fields,
    errors:
      err instanceof AggregateError
        ? err.errors.map((e) => (e instanceof Error ? errorToRecord(e, depth + 1) : e))
        : undefined,
  };
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

/** Rebuilds an error from {@link errorToRecord}'s record. */
export function recordToError(rec: ErrorRecord): Error {
  const C = classFor(rec.className || rec.name);
  const err = Object.create(C.prototype) as Error;
  Object.defineProperty(err, 'message', { value: rec.message, writable: true, configurable: true });
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
  Object.assign(err, rec.fields);
  return err;
}
