/**
 * What the shared limiters (`TokenBucket`, `LeakyBucket`, `SlidingWindowLimiter`,
 * `ConcurrencyManager`) have in common: the start of a waiting acquire, the clock in integer
 * nanoseconds, and the timer sleep a waiting acquire uses.
 *
 * Limiter state holds instants as BigInt nanoseconds on {@link now}'s clock (the one monotonic clock
 * of the process, so every thread reads the same instant), which fits 2^63 ns (292 years) and lets
 * `Atomics.compareExchange` on a BigInt64 slot update a whole instant at once.
 */
import { MAX_TIMER_MS, now } from '../memory/clock.js';
import { integer, millis, object, positive } from '../memory/validate.js';
import { abortError, checkWaitOptions, type WaitOptions } from '../memory/wait/index.js';
import { delay } from './policy.js';

/**
 * The start of every waiting acquire: checks the wait options at the call site and returns the
 * signal, or throws {@link AbortError} if it has already aborted. `what` names the options in errors.
 */
export function beginWait(opts: WaitOptions | undefined, what: string): AbortSignal | undefined {
  checkWaitOptions(opts, what);
  const signal = opts?.signal;
  if (signal?.aborted) throw abortError(signal);
  return signal;
}

/**
 * The `timeout` of wait options in ns; {@link NO_LIMIT} when there is none, and at most that: a
 * huge finite timeout (1e300 ms) must not let a reservation book past 2^63 ns, where the shared
 * BigInt64 instant wraps negative and a booked-out bucket reads as full again.
 */
export function timeoutNs(opts: WaitOptions | undefined): bigint {
  return opts?.timeout === undefined ? NO_LIMIT : minBig(msToNs(opts.timeout), NO_LIMIT);
}

/** Now on the shared clock, in whole nanoseconds (floored, so never ahead of the clock). */
export function nowNs(): bigint {
  return BigInt(Math.floor(now() * 1e6));
}

/** Milliseconds to whole nanoseconds, rounded up; Infinity (no limit) stays as `NO_LIMIT`. */
export function msToNs(ms: number): bigint {
  return ms === Number.POSITIVE_INFINITY ? NO_LIMIT : BigInt(Math.ceil(ms * 1e6));
}

/** A distance no reservation reaches (2^62 ns, 146 years): stands for "no limit". */
export const NO_LIMIT = 1n << 62n;

/** The larger of two BigInts (Math.max takes numbers only). */
export function maxBig(a: bigint, b: bigint): bigint {
  if (a > b) return a;
  return b;
}

/** The smaller of two BigInts. */
export function minBig(a: bigint, b: bigint): bigint {
  if (a < b) return a;
  return b;
}

/** Checks a positive finite number option (rates, windows); memory/validate.ts wording. */
export function checkPositive(x: unknown, what: string): number {
  return positive(x, what);
}

/** Checks a number of milliseconds option: >= 0 (or > 0 without `allowZero`); Infinity ("never") passes. */
export function checkMs(x: unknown, what: string, allowZero: boolean): number {
  return millis(x, what, { positive: !allowZero, infinity: true });
}

/** Checks an integer option in [min, max]. */
export function checkInt(x: unknown, what: string, min: number, max: number): number {
  return integer(x, what, { min, max });
}

/** Checks that the options argument is an object. */
export function checkOptions<T>(opts: T | undefined, what: string): T {
  return object<T & object>(opts, `${what} options`);
}

/**
 * Sleeps on a timer until the shared clock reaches `dueNs` (no spinning), or rejects with
 * {@link AbortError}. Timers may fire a little early against the clock (libuv rounds to whole
 * milliseconds), so it re-reads the clock and sleeps again until the instant has truly passed: the
 * caller may act as of `dueNs` once this resolves.
 */
export async function sleepUntilNs(dueNs: bigint, signal?: AbortSignal): Promise<void> {
  for (;;) {
    if (signal?.aborted) throw abortError(signal);
    const left = dueNs - nowNs();
    if (left <= 0n) return;
    await delay(Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil(Number(left) / 1e6))), signal);
  }
}
