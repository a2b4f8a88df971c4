/**
 * A call's own AbortSignal, for user functions run on the main thread (pipeline `run` stages,
 * fanOut and FanPattern function targets). Every call of a run shares the run's signal, and a
 * function that listens on its signal while it runs (as `fetch(url, { signal })` does) would add one
 * listener per running call to that one signal: past 10, Node prints MaxListenersExceededWarning.
 * So each call gets its own signal, made only when first read, following the run's through
 * watchAbort (one listener however many calls run); `end()` stops the following once the call is over.
 */
import { watchAbort } from '../memory/wait/index.js';

export interface CallSignal {
  /** The call's own signal: aborted when (or if already) `parent` is. */
  readonly signal: AbortSignal;
  /** The call is over: its signal stops following `parent`. */
  end(): void;
}

export function callSignal(parent: AbortSignal): CallSignal {
  let own: AbortController | undefined;
  let unwatch: (() => void) | undefined;
  let over = false;
  return {
    get signal(): AbortSignal {
      if (own === undefined) {
        const c = (own = new AbortController());
        if (parent.aborted) c.abort(parent.reason);
        else if (!over) unwatch = watchAbort(parent, () => c.abort(parent.reason));
      }
      return own.signal;
    },
    end(): void {
      over = true;
      unwatch?.();
      unwatch = undefined;
    },
  };
}
