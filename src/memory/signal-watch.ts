/**
 * Many watchers of one AbortSignal for the price of one listener.
 *
 * Users hand one signal to a whole batch (a Ctrl-C handler, a request's signal). A listener per
 * watcher costs O(n) per add and remove on Node's EventTarget (it walks its list to find duplicates
 * and the one to remove), so n tasks on one signal cost O(n^2), and past 10 listeners Node prints a
 * MaxListenersExceededWarning. Here each signal gets one listener and an intrusive doubly-linked
 * list of watchers: add and remove are O(1) and allocate nothing (no hash table to grow), the abort
 * calls every watcher once (the newest first), and the listener is removed when the last watcher
 * leaves, so a signal that outlives its watchers holds nothing of ours.
 * Internal (not exported from the package root).
 */

/** One party that wants to hear a signal's abort; subclass it and implement {@link onAbort}. */
export abstract class SignalWatcher {
  /** The list this watcher is in (undefined when not watching). */
  watchList: WatchList | undefined = undefined;
  prevWatcher: SignalWatcher | undefined = undefined;
  nextWatcher: SignalWatcher | undefined = undefined;
  /** Called once when the watched signal aborts (the watcher has already been removed). */
  abstract onAbort(): void;
}

/** A signal's watchers, in the order they began watching (called newest first). */
class WatchList {
  first: SignalWatcher | undefined = undefined;
  last: SignalWatcher | undefined = undefined;
  readonly listener = (): void => this.#fire();

  constructor(readonly signal: AbortSignal) {}

  #fire(): void {
    // Unlink each before calling it: a watcher that unwatches (or watches anew) meanwhile is safe.
    // Newest first: of the tasks of a batch that share one signal, the queued ones (the newer) are
    // cancelled before the running ones (the older) are aborted, so a worker that an abort frees
    // does not start a task whose own cancellation is still to come (pool/main/abort-watch.ts).
    let failure: { err: unknown } | undefined;
    for (let w = this.last; w !== undefined; w = this.last) {
      unlink(this, w);
      try {
        w.onAbort();
      } catch (err) {
        failure ??= { err };
      }
    }
    if (failure) throw failure.err; // reported as an uncaught listener error, after every watcher ran
  }
}

const lists = new WeakMap<AbortSignal, WatchList>();

function unlink(list: WatchList, w: SignalWatcher): void {
  const { prevWatcher: p, nextWatcher: n } = w;
  if (p) p.nextWatcher = n;
  else list.first = n;
  if (n) n.prevWatcher = p;
  else list.last = p;
  w.prevWatcher = w.nextWatcher = w.watchList = undefined;
}

/**
 * Makes `w` hear `signal`'s abort (once), until {@link unwatchSignal}. O(1). The caller checks
 * `signal.aborted` first: an aborted signal never fires again. A watcher watches one signal at a time.
 */
export function watchSignal(signal: AbortSignal, w: SignalWatcher): void {
  if (w.watchList !== undefined) return;
  let list = lists.get(signal);
  if (list === undefined) {
    list = new WatchList(signal);
    lists.set(signal, list);
  }
  // The listener is attached while anyone watches: added by the first watcher, removed by the last.
  if (list.first === undefined) signal.addEventListener('abort', list.listener, { once: true });
  w.watchList = list;
  w.prevWatcher = list.last;
  if (list.last) list.last.nextWatcher = w;
  else list.first = w;
  list.last = w;
}

/** Stops `w` watching; O(1); a no-op if it is not watching. The last watcher takes the listener away. */
export function unwatchSignal(w: SignalWatcher): void {
  const list = w.watchList;
  if (list === undefined) return;
  unlink(list, w);
  if (list.first === undefined) list.signal.removeEventListener('abort', list.listener);
}

/** How many watchers `signal` has now (O(n); for tests). */
export function signalWatcherCount(signal: AbortSignal): number {
  let n = 0;
  for (let w = lists.get(signal)?.first; w !== undefined; w = w.nextWatcher) n++;
  return n;
}
