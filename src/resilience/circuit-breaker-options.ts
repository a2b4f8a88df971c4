/**
 * Options of a `CircuitBreaker`: their meaning, their defaults, and their validation. What comes out
 * of {@link resolveBreakerOptions} is plain data (no functions), so it travels in the breaker's
 * handle and a breaker rebuilt in another thread has the same configuration.
 */
import { allKeys, callable, fraction, integer, invalid, millis, number, object, oneOf, onlyKeys } from '../memory/validate.js';

/** The states a breaker reports. `forced-closed` (after `forceClose()`) admits every call. */
export type CircuitState = 'closed' | 'open' | 'half-open' | 'forced-open' | 'forced-closed';

/**
 * What `isFailure(err)` says about an error a call threw (the error is rethrown in every case):
 * - `'failure'` (or `true`): counts toward opening the circuit; a failed probe reopens it.
 * - `'ignore'` (or `false`): counts as nothing, e.g. a rate-limit reply or a client's bad request;
 *   an ignored probe frees its half-open slot for another.
 * - `'success'`: the dependency answered, so it counts as a success (e.g. a 404).
 * - `'permanent'`: opens the circuit at once, whatever the thresholds (e.g. bad credentials).
 */
export type FailureVerdict = 'failure' | 'ignore' | 'success' | 'permanent';

/** A sliding window over which rates are computed. */
export interface BreakerWindow {
  /** `'count'`: the last `size` calls; `'time'`: the calls of the last `size` milliseconds. */
  kind: 'count' | 'time';
  /** Calls (an integer in [1, 100 000]) or milliseconds (> 0). */
  size: number;
}

/**
 * Options of a `CircuitBreaker`. Every time is in milliseconds. `F` is what `fallback` resolves to:
 * inferred from the `fallback` given to `new CircuitBreaker({ ... })`; written without it, the
 * options may hold any fallback, so it is `unknown`.
 */
export interface CircuitBreakerOptions<F = unknown> {
  /**
   * Opens after this many counted failures in a row (an integer >= 1). Default 5 when neither this
   * nor `failureRateThreshold` nor `slowCallDuration` is given; otherwise off unless given.
   */
  failureThreshold?: number;
  /** Opens when failures / calls in the window reach this fraction, in (0, 1]. Off by default. */
  failureRateThreshold?: number;
  /**
   * The window of the rate checks. Default `{ kind: 'count', size: 100 }`. Given only with
   * `failureRateThreshold` or `slowCallDuration` (InvalidArgumentError otherwise).
   */
  window?: BreakerWindow;
  /**
   * Calls the window must hold before a rate is judged (an integer >= 1). Default: `window.size`
   * for a count window (at most size), 10 for a time window. Given only with a rate, as `window`.
   */
  minimumCalls?: number;
  /** A call at least this long is slow. Off by default. A slow probe in half-open counts as a failed one. */
  slowCallDuration?: number;
  /** Opens when slow calls / calls in the window reach this fraction, in (0, 1]. Default 1 when `slowCallDuration` is set. */
  slowCallRateThreshold?: number;
  /** How long the circuit stays open before it lets probes through. Default 30 000. */
  resetTimeout?: number;
  /**
   * Grows the open time after each failed probe: `resetTimeout * multiplier ** level`, at most
   * `maxDelay`; it shrinks back to `resetTimeout` when the circuit closes. Off by default; when given,
   * `multiplier` defaults to 2 and `maxDelay` to 300 000 (or `resetTimeout`, if longer).
   */
  resetBackoff?: { multiplier?: number; maxDelay?: number };
  /** Probes half-open admits (an integer >= 1); all must succeed, none of them slow, to close it. Default 1. */
  halfOpenMaxCalls?: number;
  /**
   * Longest half-open stays (ms, > 0, or Infinity: no limit). Probes that have not all reported by
   * then (one hangs, or its thread was terminated: no thread can see another die) count as a failed
   * probe, and the circuit opens again; a probe's late outcome is dropped. Default 60 000.
   */
  halfOpenTimeout?: number;
  /** Classifies an error a call threw; see {@link FailureVerdict}. Default: every error is a failure. Not shared across threads. */
  isFailure?: (err: unknown) => boolean | FailureVerdict;
  /**
   * Called instead of failing, with the error, when the breaker refuses a call (`BrokenCircuitError`)
   * or the call fails with a counted failure; what it returns (or throws) is the call's outcome, so
   * `execute` resolves to the function's result or the fallback's (`Promise<T | F>`).
   * Not shared across threads.
   */
  fallback?: (err: unknown) => F | PromiseLike<F>;
}

/** The plain-data configuration that travels in the handle. */
export interface BreakerConfig {
  /** 0: consecutive mode off. */
  readonly failureThreshold: number;
  /** 0: off. */
  readonly failureRateThreshold: number;
  readonly windowKind: 'count' | 'time';
  readonly windowSize: number;
  readonly minimumCalls: number;
  /** Infinity: slow-call detection off. */
  readonly slowCallDuration: number;
  /** 0: off. */
  readonly slowCallRateThreshold: number;
  readonly resetTimeout: number;
  readonly backoffMultiplier: number;
  readonly backoffMaxDelay: number;
  readonly halfOpenMaxCalls: number;
  /** Infinity: no limit. */
  readonly halfOpenTimeout: number;
}

/** Longest count window: its ring takes 4 bytes per call of shared memory. */
export const MAX_COUNT_WINDOW = 100_000;

const BREAKER_KEYS = allKeys<CircuitBreakerOptions>({
  failureThreshold: true,
  failureRateThreshold: true,
  window: true,
  minimumCalls: true,
  slowCallDuration: true,
  slowCallRateThreshold: true,
  resetTimeout: true,
  resetBackoff: true,
  halfOpenMaxCalls: true,
  halfOpenTimeout: true,
  isFailure: true,
  fallback: true,
});
/** Most probes half-open may admit. */
const MAX_PROBES = 1 << 20;

/** Validates options (InvalidArgumentError naming the bad one) and fills in the defaults. */
export function resolveBreakerOptions(o: CircuitBreakerOptions): BreakerConfig {
  onlyKeys(object(o, 'CircuitBreaker options'), 'CircuitBreaker options', BREAKER_KEYS);
  if (o.isFailure !== undefined) callable(o.isFailure, 'isFailure');
  if (o.fallback !== undefined) callable(o.fallback, 'fallback');
  const failureRateThreshold =
    o.failureRateThreshold === undefined ? 0 : fraction(o.failureRateThreshold, 'failureRateThreshold');
  const slowCallDuration =
    o.slowCallDuration === undefined
      ? Number.POSITIVE_INFINITY
      : millis(o.slowCallDuration, 'slowCallDuration', { positive: true });
  if (o.slowCallRateThreshold !== undefined && o.slowCallDuration === undefined) {
    invalid('slowCallRateThreshold', 'given together with slowCallDuration', o.slowCallRateThreshold);
  }
  const slowCallRateThreshold =
    o.slowCallDuration === undefined
      ? 0
      : o.slowCallRateThreshold === undefined
        ? 1
        : fraction(o.slowCallRateThreshold, 'slowCallRateThreshold');
  const anyRate = failureRateThreshold > 0 || slowCallRateThreshold > 0;
  const failureThreshold =
    o.failureThreshold === undefined
      ? anyRate
        ? 0
        : 5
      : integer(o.failureThreshold, 'failureThreshold', { min: 1, max: 2 ** 30 });
  const w = o.window ?? { kind: 'count', size: 100 };
  onlyKeys(object(w, 'window'), 'CircuitBreaker window options', ['kind', 'size']);
  oneOf(w.kind, 'window.kind', ['count', 'time']);
  const windowSize =
    w.kind === 'count'
      ? integer(w.size, 'window.size', { min: 1, max: MAX_COUNT_WINDOW })
      : millis(w.size, 'window.size', { positive: true });
  const minimumCalls =
    o.minimumCalls === undefined
      ? w.kind === 'count'
        ? windowSize
        : 10
      : integer(o.minimumCalls, 'minimumCalls', { min: 1, max: w.kind === 'count' ? windowSize : 2 ** 30 });
  // The window and minimumCalls serve the rate checks only (consecutive failures count across the
  // whole closed epoch): without a rate they were silently ignored, so a breaker written as
  // `{ failureThreshold: 5, window: { kind: 'time', size: 10_000 } }` opened after 5 failures spread
  // over any length of time. Refused, as slowCallRateThreshold without slowCallDuration is.
  if (!anyRate) {
    const need = 'given together with failureRateThreshold or slowCallDuration (it serves the rate checks only)';
    if (o.window !== undefined) invalid('window', need, o.window);
    if (o.minimumCalls !== undefined) invalid('minimumCalls', need, o.minimumCalls);
  }
  const resetTimeout = o.resetTimeout === undefined ? 30_000 : millis(o.resetTimeout, 'resetTimeout');
  let backoffMultiplier = 1;
  let backoffMaxDelay = resetTimeout;
  if (o.resetBackoff !== undefined) {
    const b = o.resetBackoff;
    onlyKeys(object(b, 'resetBackoff'), 'CircuitBreaker resetBackoff options', ['multiplier', 'maxDelay']);
    backoffMultiplier = number(b.multiplier ?? 2, 'resetBackoff.multiplier', { min: 1 });
    backoffMaxDelay =
      b.maxDelay === undefined
        ? Math.max(resetTimeout, 300_000)
        : millis(b.maxDelay, 'resetBackoff.maxDelay');
    if (backoffMaxDelay < resetTimeout) {
      invalid('resetBackoff.maxDelay', `>= resetTimeout (${resetTimeout})`, b.maxDelay);
    }
  }
  const halfOpenMaxCalls =
    o.halfOpenMaxCalls === undefined
      ? 1
      : integer(o.halfOpenMaxCalls, 'halfOpenMaxCalls', { min: 1, max: MAX_PROBES });
  return Object.freeze({
    failureThreshold,
    failureRateThreshold,
    windowKind: w.kind,
    windowSize,
    minimumCalls,
    slowCallDuration,
    slowCallRateThreshold,
    resetTimeout,
    backoffMultiplier,
    backoffMaxDelay,
    halfOpenMaxCalls,
    halfOpenTimeout:
      o.halfOpenTimeout === undefined
        ? 60_000
        : millis(o.halfOpenTimeout, 'halfOpenTimeout', { positive: true, infinity: true }),
  });
}

/**
 * Checks a configuration that arrived in a handle (it may come from anywhere): every field in the
 * range {@link resolveBreakerOptions} gives it. InvalidArgumentError naming the first bad field.
 */
export function checkBreakerConfig(raw: unknown): BreakerConfig {
  const c = object<Record<keyof BreakerConfig, unknown>>(raw, 'CircuitBreaker config');
  const windowKind = oneOf(c.windowKind, 'windowKind', ['count', 'time'] as const);
  const windowSize =
    windowKind === 'count'
      ? integer(c.windowSize, 'windowSize', { min: 1, max: MAX_COUNT_WINDOW })
      : millis(c.windowSize, 'windowSize', { positive: true });
  const failureRateThreshold = number(c.failureRateThreshold, 'failureRateThreshold', { min: 0, max: 1 });
  const slowCallRateThreshold = number(c.slowCallRateThreshold, 'slowCallRateThreshold', { min: 0, max: 1 });
  const resetTimeout = millis(c.resetTimeout, 'resetTimeout');
  return Object.freeze({
    failureThreshold: integer(c.failureThreshold, 'failureThreshold', { min: 0, max: 2 ** 30 }),
    failureRateThreshold,
    windowKind,
    windowSize,
    minimumCalls: integer(c.minimumCalls, 'minimumCalls', {
      min: 1,
      max: windowKind === 'count' ? windowSize : 2 ** 30,
    }),
    slowCallDuration: millis(c.slowCallDuration, 'slowCallDuration', { positive: true, infinity: true }),
    slowCallRateThreshold,
    resetTimeout,
    backoffMultiplier: number(c.backoffMultiplier, 'backoffMultiplier', { min: 1 }),
    backoffMaxDelay: number(c.backoffMaxDelay, 'backoffMaxDelay', { min: resetTimeout }),
    halfOpenMaxCalls: integer(c.halfOpenMaxCalls, 'halfOpenMaxCalls', { min: 1, max: MAX_PROBES }),
    halfOpenTimeout: millis(c.halfOpenTimeout, 'halfOpenTimeout', { positive: true, infinity: true }),
  });
}

/** How long the circuit stays open at backoff `level` (0 after closing; +1 per failed probe). */
export function openDuration(c: BreakerConfig, level: number): number {
  return Math.min(c.resetTimeout * c.backoffMultiplier ** level, c.backoffMaxDelay);
}
