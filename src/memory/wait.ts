/**
 * The wait helper every blocking structure uses.
 *
 * A "wait word" is two Int32 slots in shared memory:
 *
 *   [at]     seq       bumped by a writer after every state change that a waiter may be waiting for
 *   [at + 1] sleepers  how many threads are inside Atomics.wait / waitAsync on `seq` right now
 *
 * Writer: change state, `Atomics.add(seq, 1)`, then `Atomics.load(sleepers)`; notify only if > 0.
 * Waiter: read `seq` (seen), try the operation, and if it must wait: `Atomics.add(sleepers, 1)`,
 * re-read `seq`, and sleep on `seq` only while it still equals `seen`.
 *
 * Why no wake-up is lost: all these accesses are sequentially consistent, so of the writer's
 * (add seq; load sleepers) and the waiter's (add sleepers; load seq), one pair must see the other's
 * write. Either the waiter sees the new seq and does not sleep, or the writer sees sleepers > 0 and
 * notifies; and Atomics.wait compares `seq` with `seen` atomically with joining the wait queue, so a
 * notify that lands after the re-read still wakes it. Notifies always wake every sleeper: an aborted
 * async waiter cannot leave V8's queue, so waking "one" could pick that dead waiter and lose the wake-up.
 *
 * Writers skip `Atomics.notify` (which takes a process-wide lock in V8) when nobody sleeps, which
 * keeps the uncontended path free of it.
 */
import { isMainThread } from 'node:worker_threads';
import { deadlineFor, now } from './clock.js';
import { AbortError, InvalidArgumentError, TimeoutError } from './errors.js';
import { MAIN_SPIN, spinWhileEqual, WORKER_SPIN } from './spin.js';

/** Options every waiting operation takes. */
export interface WaitOptions {
  /** Stop waiting when this signal aborts; the operation rejects with {@link AbortError}. */
  signal?: AbortSignal;
  /** Give up after this many milliseconds with {@link TimeoutError}. */
  timeout?: number;
}

/** Validates wait options at the call site, so a bad timeout fails there and not deep in a loop. */
export function checkWaitOptions(opts: WaitOptions | undefined): void {
  if (!opts) return;
  const t = opts.timeout;
  if (t !== undefined && (typeof t !== 'number' || Number.isNaN(t) || t < 0)) {
    throw new InvalidArgumentError(`timeout must be a number of milliseconds >= 0, got ${String(t)}`);
  }
  if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) {
    throw new InvalidArgumentError('signal must be an AbortSignal');
  }
}

/** Signals writers use: bump `seq` and wake sleepers if there are any. */
export function wake(view: Int32Array, at: number): void {
  Atomics.add(view, at, 1);
  if (Atomics.load(view, at + 1) > 0) Atomics.notify(view, at);
}

/** The AbortError an aborted wait rejects with; `cause` is the signal's reason. */
export function abortError(signal: AbortSignal): AbortError {
  return new AbortError('the operation was aborted', { cause: signal.reason });
}

/**
 * Blocks the calling thread until `attempt()` returns something other than `undefined`.
 * `attempt` runs once at once and again after every change of the wait word at `at`.
 * Throws {@link TimeoutError} past `opts.timeout`; checks `opts.signal` between sleeps (a blocked
 * thread runs no event loop, so an abort from this thread's own timers cannot land meanwhile).
 */
export function blockUntil<T>(
  view: Int32Array,
  at: number,
  attempt: () => T | undefined,
  opts?: WaitOptions,
  what = 'wait',
): T {
  const deadline = deadlineFor(opts?.timeout);
  const signal = opts?.signal;
  for (;;) {
    if (signal?.aborted) throw abortError(signal);
    const seen = Atomics.load(view, at);
    const r = attempt();
    if (r !== undefined) return r;
    const changed = spinWhileEqual(view, at, seen, isMainThread ? MAIN_SPIN : WORKER_SPIN);
    // The deadline is checked even when the word moved: a word that keeps changing (busy writers,
    // or an attempt that itself wakes others) must not keep a timed wait alive past its timeout.
    const left = deadline === Number.POSITIVE_INFINITY ? deadline : deadline - now();
    if (left <= 0) throw new TimeoutError(`${what} timed out after ${opts?.timeout} ms`);
    if (changed) continue;
    Atomics.add(view, at + 1, 1);
    try {
      if (Atomics.load(view, at) === seen)
        Atomics.wait(view, at, seen, left === Number.POSITIVE_INFINITY ? undefined : left);
    } finally {
      Atomics.sub(view, at + 1, 1);
    }
  }
}

// On Node 20 a pending Atomics.waitAsync does not keep the event loop alive (nodejs/node#61941): a
// process whose only pending work is such a wait would exit under it. So while any async wait is
// pending, one ref'd interval keeps the loop alive; it is dropped when the last wait ends.
let pendingAsyncWaits = 0;
let keepAlive: ReturnType<typeof setInterval> | undefined;
export function holdLoop(): void {
  if (pendingAsyncWaits++ === 0) keepAlive = setInterval(() => {}, 1 << 30);
}
export function releaseLoop(): void {
  if (--pendingAsyncWaits === 0 && keepAlive !== undefined) {
    clearInterval(keepAlive);
    keepAlive = undefined;
  }
}

/** Number of async waits now pending in this thread (for tests: a settled wait leaves none). */
export function pendingAsyncWaitCount(): number {
  return pendingAsyncWaits;
}

// One 'abort' listener per signal, however many waits share it. A signal shared by many waits (one
// per pool or per request, say) would otherwise collect a listener per pending wait, tripping Node's
// MaxListenersExceededWarning past 10. The listener lives as long as the signal does.
const abortWatchers = new WeakMap<AbortSignal, Set<() => void>>();
/** Calls `fn` when `signal` aborts, until the returned function is called (one listener per signal). */
export function watchAbort(signal: AbortSignal, fn: () => void): () => void {
  let set = abortWatchers.get(signal);
  if (!set) {
    const fns = new Set<() => void>();
    set = fns;
    abortWatchers.set(signal, fns);
    signal.addEventListener(
      'abort',
      () => {
        for (const f of fns) f();
        fns.clear();
      },
      { once: true },
    );
  }
  set.add(fn);
  const watching = set;
  return () => watching.delete(fn);
}

/**
 * Async form of {@link blockUntil}: never blocks the thread; sleeps in `Atomics.waitAsync`.
 * Rejects with {@link TimeoutError} or {@link AbortError}.
 */
export async function waitUntil<T>(
  view: Int32Array,
  at: number,
  attempt: () => T | undefined,
  opts?: WaitOptions,
  what = 'wait',
): Promise<T> {
  const signal = opts?.signal;
  if (signal?.aborted) throw abortError(signal);
  const first = attempt();
  if (first !== undefined) return first;
  const deadline = deadlineFor(opts?.timeout);
  // Each sleep gets its own small promise that the abort can settle. (Racing every sleep against one
  // long-lived "aborted" promise left a reaction on it per wake-up, kept until the wait ended: a
  // waiter woken 20k times held 6 MB, and 2000 waiters on one semaphore peaked near 600 MB.)
  let wakeOnAbort: ((outcome: 'aborted') => void) | undefined;
  const unwatch = signal ? watchAbort(signal, () => wakeOnAbort?.('aborted')) : undefined;
  holdLoop();
  try {
    for (;;) {
      const seen = Atomics.load(view, at);
      const r = attempt();
      if (r !== undefined) return r;
      if (signal?.aborted) throw abortError(signal);
      const left = deadline - now();
      if (left <= 0) throw new TimeoutError(`${what} timed out after ${opts?.timeout} ms`);
      Atomics.add(view, at + 1, 1);
      try {
        const w = Atomics.waitAsync(view, at, seen, left === Number.POSITIVE_INFINITY ? undefined : left);
        if (w.async) {
          const outcome = signal
            ? await new Promise<string>((resolve) => {
                wakeOnAbort = resolve;
                void w.value.then(resolve);
              })
            : await w.value;
          wakeOnAbort = undefined;
          if (outcome === 'aborted') throw abortError(signal as AbortSignal);
        }
      } finally {
        Atomics.sub(view, at + 1, 1);
      }
    }
  } finally {
    releaseLoop();
    unwatch?.();
  }
}
