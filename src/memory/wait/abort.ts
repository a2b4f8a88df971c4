/** Abort signals as the wait module sees them: one listener per signal, and the error an abort gives. */
import { AbortError } from '../errors.js';

/** The AbortError an aborted wait rejects with; `cause` is the signal's reason. */
export function abortError(signal: AbortSignal): AbortError {
  return new AbortError('the operation was aborted', { cause: signal.reason });
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
