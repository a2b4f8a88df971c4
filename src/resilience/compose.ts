import { InvalidArgumentError } from '../memory/errors.js';
import type { CircuitBreaker } from './circuit-breaker.js';
import {
  checkExecuteOptions,
  checkFunction,
  type ExecuteOptions,
  NEVER_ABORTED,
  type Policy,
} from './policy.js';

/** What the function given to a composed policy receives. */
export interface ComposedContext {
  /** The innermost signal: aborted by the caller's signal or by any enclosing `Timeout`. */
  readonly signal: AbortSignal;
  /** The try number of the nearest enclosing `RetryPolicy` (1 for the first try; 1 when there is none). */
  readonly attempt: number;
}

/**
 * A policy built by {@link compose}; it can itself be composed again. `F` is what its policies may
 * resolve to instead of the function's result (their breakers' fallbacks; `never` without any).
 */
export interface ComposedPolicy<F = never> extends Policy<ComposedContext, F> {
  /** The policies, outermost first. */
  readonly policies: readonly Policy<unknown, unknown>[];
}

/**
 * What policy `P` may resolve to instead of its function's result: a breaker's fallback (also one
 * inside a composed policy); `never` for the others. (Read from the type arguments: a generic
 * `execute` hides F from inference through its signature.)
 */
type FallbackOf<P> = P extends CircuitBreaker<infer F> ? F : P extends ComposedPolicy<infer F> ? F : never;

/** The context inside one policy, read from whatever that policy passed to its function. */
function innerContext(arg: unknown, outer: ComposedContext): ComposedContext {
  if (arg instanceof AbortSignal) return { signal: arg, attempt: outer.attempt };
  if (typeof arg !== 'object' || arg === null) return outer;
  const { signal, attempt } = arg as { signal?: unknown; attempt?: unknown };
  return {
    signal: signal instanceof AbortSignal ? signal : outer.signal,
    attempt: typeof attempt === 'number' ? attempt : outer.attempt,
  };
}

/**
 * Nests policies, outermost first (like cockatiel's `wrap`): `compose(retry, breaker, timeout)`
 * retries calls that go through the breaker, each try bounded by the timeout. The function gets the
 * innermost signal and the retry's try number, whichever policies pass them. Its `execute` resolves
 * to the function's result or to what a breaker's `fallback` gives (`Promise<T | F>`).
 *
 * @example
 * ```ts
 * const policy = compose(new RetryPolicy({ maxAttempts: 3 }), breaker, new Timeout(1000));
 * const res = await policy.execute(({ signal, attempt }) => fetch(url, { signal }));
 * ```
 */
export function compose<P extends Policy<unknown, unknown>[]>(...policies: P): ComposedPolicy<FallbackOf<P[number]>> {
  type F = FallbackOf<P[number]>;
  policies.forEach((p, i) => {
    if (typeof (p as { execute?: unknown } | null)?.execute !== 'function') {
      throw new InvalidArgumentError(`compose: argument ${i} is not a policy (it has no execute method)`);
    }
  });
  const list = Object.freeze([...policies]);
  const run = <T>(
    i: number,
    fn: (ctx: ComposedContext) => T | PromiseLike<T>,
    ctx: ComposedContext,
  ): Promise<T | F> => {
    if (i === list.length) return (async () => fn(ctx))();
    const inner = (arg: unknown): Promise<T | F> => run(i + 1, fn, innerContext(arg, ctx));
    const opts = ctx.signal === NEVER_ABORTED ? undefined : { signal: ctx.signal };
    // Each policy resolves to its function's result or its fallback's: F is the union of those.
    return list[i].execute(inner, opts) as Promise<T | F>;
  };
  return {
    policies: list,
    execute<T>(fn: (ctx: ComposedContext) => T | PromiseLike<T>, opts?: ExecuteOptions): Promise<T | F> {
      checkFunction(fn, 'compose(...).execute: fn');
      checkExecuteOptions(opts, 'compose(...).execute');
      return run(0, fn, { signal: opts?.signal ?? NEVER_ABORTED, attempt: 1 });
    },
  };
}
