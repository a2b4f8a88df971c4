/**
 * Delay sequences between retries: fixed, exponential, fibonacci, decorrelated jitter, or the
 * caller's own function. Every delay is capped at `maxDelay`, then `jitter` takes a random part off.
 */
import { InvalidArgumentError } from '../memory/errors.js';
import { checkMs } from './limiter-util.js';
import { invalid, number } from '../memory/validate.js';

/** The built-in delay shapes. */
export type BackoffKind = 'fixed' | 'exponential' | 'fibonacci' | 'decorrelated';

/**
 * A custom delay: `attempt` is the number of the retry about to wait (1 for the first retry),
 * `lastDelay` the delay waited before the previous retry (0 before the first retry). Returns
 * milliseconds; `maxDelay` and `jitter` still apply to it.
 */
export type BackoffFn = (attempt: number, lastDelay: number) => number;

/** The options that shape the delays (all milliseconds). */
export interface BackoffOptions {
  /** Default `'exponential'`. */
  backoff?: BackoffKind | BackoffFn;
  /** First delay; for `'decorrelated'`, the median first delay. Default 100, or `maxDelay` if that is less. */
  initialDelay?: number;
  /** No delay exceeds this. Default 30 000. */
  maxDelay?: number;
  /** Growth factor of `'exponential'` (and the exponent base of `'decorrelated'`). Default 2. */
  multiplier?: number;
  /**
   * Randomness taken off each delay: a fraction in [0, 1] (0 none, 0.5 "equal jitter", 1 "full
   * jitter", uniform in [0, delay)). `true` means 1. Default 0.
   */
  jitter?: boolean | number;
}

/** Options after validation and defaults. */
export interface ResolvedBackoff {
  readonly backoff: BackoffKind | BackoffFn;
  readonly initialDelay: number;
  readonly maxDelay: number;
  readonly multiplier: number;
  readonly jitter: number;
}

const KINDS: readonly string[] = ['fixed', 'exponential', 'fibonacci', 'decorrelated'];

function ms(v: unknown, name: string, dflt: number): number {
  return v === undefined ? dflt : checkMs(v, name, true);
}

/** Validates backoff options and fills in the defaults. */
export function resolveBackoff(o: BackoffOptions): ResolvedBackoff {
  const backoff = o.backoff ?? 'exponential';
  if (typeof backoff !== 'function' && !KINDS.includes(backoff)) {
    invalid('backoff', `one of ${KINDS.map((k) => `'${k}'`).join(', ')} or a function`, backoff);
  }
  const maxDelay = ms(o.maxDelay, 'maxDelay', 30_000);
  // The default first delay gives way to a smaller maxDelay: `{ maxDelay: 50 }` alone was refused
  // as below an initialDelay of 100 that the caller never set.
  const initialDelay = ms(o.initialDelay, 'initialDelay', Math.min(100, maxDelay));
  if (maxDelay < initialDelay && o.maxDelay !== undefined) {
    invalid('maxDelay', `>= initialDelay (${initialDelay})`, maxDelay);
  }
  const multiplier = number(o.multiplier ?? 2, 'multiplier', { min: 1 });
  const j = o.jitter === true ? 1 : o.jitter === false || o.jitter === undefined ? 0 : o.jitter;
  if (typeof j !== 'number' || !(j >= 0 && j <= 1)) invalid('jitter', 'a boolean or a number in [0, 1]', o.jitter);
  return { backoff, initialDelay, maxDelay: Math.max(maxDelay, initialDelay), multiplier, jitter: j };
}

// Decorrelated jitter, "V2" as in Polly.Contrib.WaitAndRetry (and cockatiel): the retry times follow
// an exponential curve smoothed by tanh(sqrt(P * t)), and each delay is the gap between two points of
// that curve taken at a random offset within the attempt, so retries of many clients spread out
// without clustering, yet the median delays stay near initialDelay * 1, 2, 4, ...
const P_FACTOR = 4;
const RP_SCALING = 1 / 1.4;

/**
 * A fresh delay sequence for one `execute`: each call returns the next delay in milliseconds.
 *
 * @example
 * ```ts
 * const next = delays(resolveBackoff({ backoff: 'fibonacci', initialDelay: 10 }));
 * next(); next(); next(); // 10, 10, 20
 * ```
 */
export function delays(o: ResolvedBackoff): () => number {
  const { backoff, initialDelay, maxDelay, multiplier, jitter } = o;
  let attempt = 0;
  let last = 0;
  let a = initialDelay;
  let b = initialDelay;
  let prevCurve = 0;
  return () => {
    attempt++;
    let d: number;
    if (typeof backoff === 'function') {
      d = backoff(attempt, last);
      if (typeof d !== 'number' || Number.isNaN(d) || d < 0) {
        throw new InvalidArgumentError(`the backoff function returned ${String(d)}; it must return ms >= 0`);
      }
    } else if (backoff === 'fixed') {
      d = initialDelay;
    } else if (backoff === 'exponential') {
      // 0 * Infinity (the power overflows near attempt 1025) would be NaN: no delay stays no delay.
      d = initialDelay === 0 ? 0 : initialDelay * multiplier ** (attempt - 1);
    } else if (backoff === 'fibonacci') {
      d = a;
      [a, b] = [b, a + b];
    } else {
      const t = attempt - 1 + Math.random();
      const curve = multiplier ** t * Math.tanh(Math.sqrt(P_FACTOR * t));
      d =
        initialDelay === 0
          ? 0
          : Number.isFinite(curve)
            ? Math.max(0, curve - prevCurve) * RP_SCALING * initialDelay
            : maxDelay;
      prevCurve = curve;
    }
    d = Math.min(d, maxDelay);
    // Not off an unbounded delay (maxDelay Infinity): Infinity - Infinity is NaN, which a timer
    // takes as 1 ms, so "wait as long as you can" became a retry at once.
    if (jitter > 0 && d !== Number.POSITIVE_INFINITY) d -= Math.random() * jitter * d;
    last = d;
    return d;
  };
}
