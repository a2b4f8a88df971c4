/** Abort signals as the wait module sees them: a watch on the signal, and the error an abort gives. */
import { AbortError } from '../errors.js';
import { SignalWatcher, unwatchSignal, watchSignal } from '../signal-watch.js';

/** The AbortError an aborted wait rejects with; `cause` is the signal's reason. */
export function abortError(signal: AbortSignal): AbortError {
  return new AbortError('the operation was aborted', { cause: signal.reason });
}

/** A watcher that calls one function (see signal-watch.ts). */
class CallOnAbort extends SignalWatcher {
  constructor(readonly fn: () => void) {
    super();
  }

  onAbort(): void {
    this.fn();
  }
}

/**
 * Calls `fn` when `signal` aborts, until the returned function is called. However many waits share
 * a signal it holds one 'abort' listener (signal-watch.ts), removed with its last watcher, so a
 * shared signal neither trips Node's MaxListenersExceededWarning nor keeps listeners after them.
 */
export function watchAbort(signal: AbortSignal, fn: () => void): () => void {
  const w = new CallOnAbort(fn);
  watchSignal(signal, w);
  return () => unwatchSignal(w);
}
