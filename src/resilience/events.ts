/**
 * Policy events, in cockatiel's shape: `policy.onRetry(listener)` returns a {@link Subscription}
 * whose `dispose()` (or `using`) removes the listener. A listener that throws does not break the
 * call that fired it: the error is rethrown in a microtask, as an EventEmitter listener's would be
 * reported, never into the policy's caller.
 */
import { checkFunction } from './policy.js';

/** What `onX(listener)` returns: removes the listener (twice is a no-op). */
export interface Subscription {
  dispose(): void;
  [Symbol.dispose](): void;
}

/** One event of one policy: listeners in the order they were added. */
export class PolicyEvent<E> {
  #listeners: Set<(e: E) => void> | undefined;

  /** Adds `listener`; what it returns removes it. */
  subscribe(listener: (e: E) => void, what: string): Subscription {
    checkFunction(listener, what);
    // A wrapper per subscription, so the same function added twice is removed once per dispose.
    const entry = (e: E): void => listener(e);
    (this.#listeners ??= new Set()).add(entry);
    const dispose = (): void => {
      this.#listeners?.delete(entry);
    };
    return { dispose, [Symbol.dispose]: dispose };
  }

  /** Whether anyone listens (callers skip building an event nobody reads). */
  get active(): boolean {
    return this.#listeners !== undefined && this.#listeners.size > 0;
  }

  /** Calls every listener with `e`. */
  emit(e: E): void {
    if (!this.active) return;
    for (const l of [...(this.#listeners as Set<(e: E) => void>)]) {
      try {
        l(e);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
