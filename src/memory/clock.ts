/**
 * One monotonic clock for every thread of the process.
 *
 * `performance.now()` counts from each thread's own start, so two threads disagree. `process.hrtime`
 * reads CLOCK_MONOTONIC, whose origin is the same for all threads of a process, so a deadline or a
 * timestamp written to shared memory by one thread means the same instant in every other.
 */

/**
 * Milliseconds (fractional) on the process-wide monotonic clock. `process.hrtime` is looked up on
 * each call (not captured) so that fake timers that replace it (`vi.useFakeTimers({ toFake: ['hrtime'] })`)
 * drive every policy that reads this clock.
 */
export function now(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

/**
 * The longest delay `setTimeout` keeps (2^31 - 1 ms, 24.8 days): a longer one fires after 1 ms, with
 * a TimeoutOverflowWarning. Every timer of skein is capped at it, or split into timers of it.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * `setTimeout(fn, ms)` for any finite `ms`: past {@link MAX_TIMER_MS} a chain of timers, each
 * re-armed with what is left. Returns what cancels it (whichever timer of the chain is pending).
 */
export function longTimeout(fn: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout>;
  const arm = (left: number): void => {
    timer = setTimeout(left > MAX_TIMER_MS ? () => arm(left - MAX_TIMER_MS) : fn, Math.min(left, MAX_TIMER_MS));
  };
  arm(ms);
  return () => clearTimeout(timer);
}

/** Absolute deadline on {@link now}'s clock for a relative `timeout` in ms; Infinity when none. */
export function deadlineFor(timeout: number | undefined): number {
  return timeout === undefined || timeout === Number.POSITIVE_INFINITY
    ? Number.POSITIVE_INFINITY
    : now() + timeout;
}

// `performance.now()` is cheaper than `process.hrtime()` (no array per call) but counts from this
// thread's start, and on some machines drifts against it (0.6 ms per second was measured on the
// 2-core VM here). So `fastNow` adds an offset to the shared clock that is re-taken every 50 ms:
// its error stays within the drift of 50 ms (tens of microseconds). For hot paths only: fake
// timers do not drive it.
//
// A resync reads performance.now() on both sides of the shared clock and is kept only if the two
// readings are close: a thread preempted in between would otherwise bake the preemption into the
// offset for the next 50 ms (0.54 ms was seen under load). A rejected one is retried on the next call.
const RESYNC_MS = 50;
const RESYNC_SPREAD_MS = 0.05;
let offset = 0;
let syncedAt = Number.NEGATIVE_INFINITY;
resync(performance.now(), true);

function resync(p: number, force: boolean): void {
  const h = now();
  const p2 = performance.now();
  if (force || p2 - p < RESYNC_SPREAD_MS) {
    offset = h - (p + p2) / 2;
    syncedAt = p;
  }
}

/** {@link now} without an allocation (mostly), for hot paths (pool dispatch and workers). */
export function fastNow(): number {
  const p = performance.now();
  if (p - syncedAt > RESYNC_MS) resync(p, false);
  return p + offset;
}
