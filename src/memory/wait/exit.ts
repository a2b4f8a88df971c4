/**
 * The two ways out of a wait that is not on a word (a promise of the caller's, a turn in a line):
 * its signal aborts, or its time runs out.
 */
import { longTimeout } from '../clock.js';
import { abortError, watchAbort } from './abort.js';

/**
 * Calls `leave` once: with the AbortError of `signal` when it aborts, or with `late()` once `ms`
 * have passed (no timer for undefined or Infinity; one past setTimeout's 24.8 days is chained).
 * Returns the stop that ends both watches: call it when the wait ends any other way.
 */
export function watchExit(
  signal: AbortSignal | undefined,
  ms: number | undefined,
  late: () => Error,
  leave: (err: Error) => void,
): () => void {
  let stopped = false;
  let unwatch: (() => void) | undefined;
  let cancelTimer: (() => void) | undefined;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    unwatch?.();
    cancelTimer?.();
  };
  const out = (err: Error): void => {
    if (stopped) return;
    stop();
    leave(err);
  };
  if (signal) unwatch = watchAbort(signal, () => out(abortError(signal)));
  if (ms !== undefined && Number.isFinite(ms) && !stopped) cancelTimer = longTimeout(() => out(late()), Math.max(0, ms));
  return stop;
}
