/**
 * What every resilience policy has in common: `execute(fn, { signal })`.
 *
 * Each policy calls `fn` with the argument that suits it: a {@link RetryPolicy} passes
 * `{ attempt, signal }`, a {@link CircuitBreaker} and a {@link Bulkhead} pass `{ signal }`, a
 * {@link Timeout} passes its `AbortSignal` itself. {@link compose} reads the signal (and the attempt,
 * where one is given) out of whichever of these it gets, so policies of every kind nest.
 */
import { abortError, watchAbort } from '../memory/wait/index.js';
import { callable, invalid, object, onlyKeys } from '../memory/validate.js';

/** Options of every `execute`. */
export interface ExecuteOptions {
  /**
   * Stops the call: aborted before `fn` starts (or while it waits for a bulkhead slot, a limiter, a
   * retry's backoff), the policy rejects with `AbortError` at once; once `fn` runs, the abort is
   * passed on to `fn` through its context's signal and the policy settles as `fn` does (a Timeout
   * and a RetryPolicy reject at once; a breaker and a bulkhead wait for `fn`, which holds the slot).
   */
  signal?: AbortSignal;
}

/** What a breaker or a bulkhead passes to `fn`. */
export interface PolicyContext {
  /** Aborted when the caller's signal aborts; never aborted when the caller gave none. */
  readonly signal: AbortSignal;
}

/**
 * A policy that runs a function: `A` is what it passes to that function, `F` what it may resolve to
 * instead of the function's result (a breaker's fallback; `never` for the others).
 * `Policy<unknown, unknown>` is any policy at all (what {@link compose} takes).
 *
 * @example
 * ```ts
 * const p: Policy<PolicyContext> = new Bulkhead({ maxConcurrent: 4 });
 * await p.execute(({ signal }) => fetch(url, { signal }));
 * ```
 */
export interface Policy<A = PolicyContext, F = never> {
  execute<T>(fn: (arg: A) => T | PromiseLike<T>, opts?: ExecuteOptions): Promise<T | F>;
}

/** A signal that never aborts: what `fn` gets when the caller passed no signal. */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/** The context for a call without a signal: one frozen object, so the common path allocates nothing. */
export const NO_SIGNAL_CONTEXT: PolicyContext = Object.freeze({ signal: NEVER_ABORTED });

/** The context to pass to `fn` for these options. */
export function contextFor(opts: ExecuteOptions | undefined): PolicyContext {
  const signal = opts?.signal;
  return signal === undefined ? NO_SIGNAL_CONTEXT : { signal };
}

/** Waits `ms` on a timer; an abort of `signal` clears the timer and rejects with AbortError. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal === undefined) {
      setTimeout(resolve, ms);
      return;
    }
    // Aborted already (a listener called just before, as RetryPolicy's onRetry, may abort it): an
    // aborted signal never fires again, so a watch would wait out the whole timer.
    if (signal.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      unwatch();
      resolve();
    }, ms);
    const unwatch = watchAbort(signal, onAbort);
  });
}

/** Validates `execute` options at the call site. */
export function checkExecuteOptions(opts: ExecuteOptions | undefined, what: string): void {
  if (opts === undefined) return;
  onlyKeys(object(opts, `${what} options`), `${what} options`, ['signal']);
  if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) {
    invalid(`${what} signal`, 'an AbortSignal', opts.signal);
  }
}

/** Throws InvalidArgumentError unless `fn` is a function. */
export function checkFunction(fn: unknown, what: string): void {
  callable(fn, what);
}
