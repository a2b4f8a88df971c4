/**
 * Whether this thread is a skein pool worker (piscina's `isWorkerThread`): set by the worker's
 * entry module before it loads the package root and the task module, so both read it as true.
 */

/** True inside a skein pool worker thread (while its task module loads and runs), false elsewhere. */
export let isWorkerThread = false;

/** Called once by the pool worker's entry module, first thing. */
export function markPoolWorker(): void {
  isWorkerThread = true;
}
