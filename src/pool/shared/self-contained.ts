/**
 * Self-contained functions: a function that travels to a worker as its source text and is compiled
 * there (`pool.exec`, and the functions given to `parallelFor` and its kin).
 *
 * It runs in the worker's global scope, so it sees only its arguments and the worker's globals.
 * Reading a variable it closed over where it was written throws a ReferenceError there, which
 * {@link closureError} turns into a {@link ClosureVariableError} that names the variable and says why.
 */
import { InvalidArgumentError } from '../../memory/errors.js';
import { ClosureVariableError } from '../errors.js';

/** A function's source, checked on the calling thread so that bad input fails at the call site. */
export function functionSource(fn: unknown, what: string): string {
  if (typeof fn !== 'function') throw new InvalidArgumentError(`${what} must be a function, got ${typeof fn}`);
  const source = Function.prototype.toString.call(fn);
  if (/\{\s*\[native code\]\s*\}\s*$/.test(source)) {
    throw new InvalidArgumentError(
      `${what} must be written in JavaScript (a native or bound function has no source to send to a worker)`,
    );
  }
  // (`class(x) { ... }` is a method named class, written in shorthand.)
  if (/^class\b(?!\s*\()/.test(source)) throw new InvalidArgumentError(`${what} must be a function, not a class`);
  try {
    compile(source);
  } catch (err) {
    throw new InvalidArgumentError(`${what} cannot be compiled from its source: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return source;
}

/** The builtin task (see `pool/worker/builtin-tasks.ts`) that runs `pool.exec`'s functions. */
export const EXEC_TASK = 'skein:exec';

/** What `pool.exec` sends: the function's source and its arguments. */
export interface ExecInput {
  source: string;
  args: unknown[];
}

type AnyFunction = (...args: unknown[]) => unknown;

/**
 * esbuild's `keepNames` (on under tsx) wraps each nested function in a call of its module's helper
 * `__name(fn, "name")`, which is not in the worker: the function is given one that does the same.
 */
const esbuildName = (fn: unknown, value: string): unknown =>
  Object.defineProperty(fn, 'name', { value, configurable: true });

function compile(source: string): AnyFunction {
  // Strict, as the ES modules these functions are usually written in: an assignment to a variable
  // the worker lacks throws instead of creating a global.
  try {
    return new Function('__name', `"use strict"; return (${source});`)(esbuildName) as AnyFunction;
  } catch (err) {
    // A method written in shorthand (`{ f(x) { ... } }.f`) prints as `f(x) { ... }`.
    if (!(err instanceof SyntaxError)) throw err;
    const holder = new Function('__name', `"use strict"; return ({ ${source} });`)(esbuildName) as Record<
      string,
      AnyFunction
    >;
    const f = Object.values(holder)[0];
    if (typeof f !== 'function') throw err;
    return f;
  }
}

// Per thread, by source: a loop that sends the same function again compiles it once.
const compiled = new Map<string, AnyFunction>();

/** The function whose source is `source`, compiled once per thread. */
export function compileFunction(source: string): AnyFunction {
  let f = compiled.get(source);
  if (!f) {
    if (compiled.size >= 1024) compiled.clear();
    f = compile(source);
    compiled.set(source, f);
  }
  return f;
}

/**
 * The error to report for `err`, thrown by the self-contained function `what`: a ReferenceError
 * for a missing variable becomes a ClosureVariableError; anything else is returned as it is.
 */
export function closureError(err: unknown, what: string): unknown {
  if (!(err instanceof ReferenceError)) return err;
  const m = /^(\S+) is not defined$/.exec(err.message);
  if (!m) return err;
  const v = m[1];
  return new ClosureVariableError(
    `${what} reads '${v}', which does not exist in the worker: a self-contained function runs from its ` +
      `source text in another thread and cannot reach variables it closed over; pass '${v}' as an argument instead`,
    v,
    { cause: err },
  );
}
