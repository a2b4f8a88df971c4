/**
 * Options of a `CircuitBreaker`: their meaning, their defaults, and their validation. What comes out
 * of {@link resolveBreakerOptions} is plain data (no functions), so it travels in the breaker's
 * handle and a breaker rebuilt in another thread has the same configuration.
 */
import { InvalidArgumentError } from '../memory/errors.js';

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

/** Options of a `CircuitBreaker`. Every time is in milliseconds. */
export interface CircuitBreakerOptions {
  /**
   * Opens after this many counted failures in a row (an integer >= 1). Default 5 when neither this
   * nor `failureRateThreshold` nor `slowCallDuration` is given; otherwise off unless given.
   */
  failureThreshold?: number;
  /** Opens when failures / calls in the window reach this fraction, in (0, 1]. Off by default. */
  failureRateThreshold?: number;
  /** The window of the rate checks. Default `{ kind: 'count', size: 100 }`. */
  window?: BreakerWindow;
  /**
   * Calls the window must hold before a rate is judged (an integer >= 1). Default: `window.size`
   * for a count window (at most size), 10 for a time window.
   */
  minimumCalls?: number;
  /** A call at least this long is slow. Off by default. */
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
  /** Probes half-open admits (an integer >= 1); all must succeed to close it. Default 1. */
  halfOpenMaxCalls?: number;
  /** Classifies an error a call threw; see {@link FailureVerdict}. Default: every error is a failure. Not shared across threads. */
  isFailure?: (err: unknown) => boolean | FailureVerdict;
  /**
   * Called instead of failing, with the error, when the breaker refuses a call (`BrokenCircuitError`)
   * or the call fails with a counted failure; what it returns (or throws) is the call's outcome.
   * Not shared across threads.
   */
  fallback?: (err: unknown) => unknown;
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
}

/** Longest count window: its ring takes 4 bytes per call of shared memory. */
export const MAX_COUNT_WINDOW = 100_000;
/** Most probes half-open may admit. */
const MAX_PROBES = 1 << 20;

function bad(name: string, want: string, got: unknown): never {
  throw new InvalidArgumentError(`CircuitBreaker ${name} must be ${want}, got ${String(got)}`);
}

function integer(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    bad(name, `an integer in [${min}, ${max}]`, v);
  }
  return v;
}

function fraction(v: unknown, name: string): number {
  if (typeof v !== 'number' || !(v > 0 && v <= 1)) bad(name, 'a fraction in (0, 1]', v);
  return v;
}

function millis(v: unknown, name: string, positive: boolean): number {
  if (
    typeof v !== 'number' ||
    Number.isNaN(v) ||
    v < 0 ||
    (positive && v === 0) ||
    v === Number.POSITIVE_INFINITY
  ) {
    bad(name, `a finite number of milliseconds ${positive ? '> 0' : '>= 0'}`, v);
  }
  return v;
}

/** Validates options (InvalidArgumentError naming the bad one) and fills in the defaults. */
export function resolveBreakerOptions(o: CircuitBreakerOptions): BreakerConfig {
  if (typeof o !== 'object' || o === null)
    throw new InvalidArgumentError('CircuitBreaker options must be an object');
  if (o.isFailure !== undefined && typeof o.isFailure !== 'function')
    bad('isFailure', 'a function', o.isFailure);
  if (o.fallback !== undefined && typeof o.fallback !== 'function') bad('fallback', 'a function', o.fallback);
  const failureRateThreshold =
    o.failureRateThreshold === undefined ? 0 : fraction(o.failureRateThreshold, 'failureRateThreshold');
  const slowCallDuration =
    o.slowCallDuration === undefined
      ? Number.POSITIVE_INFINITY
      : millis(o.slowCallDuration, 'slowCallDuration', true);
  if (o.slowCallRateThreshold !== undefined && o.slowCallDuration === undefined) {
    bad('slowCallRateThreshold', 'given together with slowCallDuration', o.slowCallRateThreshold);
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
      : integer(o.failureThreshold, 'failureThreshold', 1, 2 ** 30);
  const w = o.window ?? { kind: 'count', size: 100 };
  if (typeof w !== 'object' || w === null) bad('window', "{ kind: 'count' | 'time', size }", w);
  if (w.kind !== 'count' && w.kind !== 'time') bad('window.kind', "'count' or 'time'", w.kind);
  const windowSize =
    w.kind === 'count'
      ? integer(w.size, 'window.size', 1, MAX_COUNT_WINDOW)
      : millis(w.size, 'window.size', true);
  const minimumCalls =
    o.minimumCalls === undefined
      ? w.kind === 'count'
        ? windowSize
        : 10
      : integer(o.minimumCalls, 'minimumCalls', 1, w.kind === 'count' ? windowSize : 2 ** 30);
  const resetTimeout = o.resetTimeout === undefined ? 30_000 : millis(o.resetTimeout, 'resetTimeout', false);
  let backoffMultiplier = 1;
  let backoffMaxDelay = resetTimeout;
  if (o.resetBackoff !== undefined) {
    const b = o.resetBackoff;
    if (typeof b !== 'object' || b === null) bad('resetBackoff', '{ multiplier?, maxDelay? }', b);
    backoffMultiplier = b.multiplier ?? 2;
    if (
      typeof backoffMultiplier !== 'number' ||
      !(backoffMultiplier >= 1) ||
      !Number.isFinite(backoffMultiplier)
    ) {
      bad('resetBackoff.multiplier', 'a finite number >= 1', b.multiplier);
    }
    backoffMaxDelay =
      b.maxDelay === undefined
        ? Math.max(resetTimeout, 300_000)
        : millis(b.maxDelay, 'resetBackoff.maxDelay', false);
    if (backoffMaxDelay < resetTimeout)
      bad('resetBackoff.maxDelay', `>= resetTimeout (${resetTimeout})`, b.maxDelay);
  }
  const halfOpenMaxCalls =
    o.halfOpenMaxCalls === undefined ? 1 : integer(o.halfOpenMaxCalls, 'halfOpenMaxCalls', 1, MAX_PROBES);
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
  });
}

/** How long the circuit stays open at backoff `level` (0 after closing; +1 per failed probe). */
export function openDuration(c: BreakerConfig, level: number): number {
  return Math.min(c.resetTimeout * c.backoffMultiplier ** level, c.backoffMaxDelay);
}
