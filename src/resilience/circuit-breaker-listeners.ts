/**
 * One thread's `stateChange` listeners of a circuit breaker, and the watcher that tells them about
 * changes any thread makes (circuit-breaker.ts `on`, `off`, `onBreak`...).
 */
import { parkAsync } from '../memory/wait/index.js';
import { STATE, WATCHERS } from './circuit-breaker-layout.js';
import type { BreakerMemory, Transition } from './circuit-breaker-state.js';

export class BreakerListeners {
  readonly #mem: BreakerMemory;
  #listeners: Set<(e: Transition) => void> | undefined;
  /** The STATE word up to which this thread's listeners have been told. */
  #seen = 0;
  #watching = false;

  constructor(mem: BreakerMemory) {
    this.#mem = mem;
  }

  /** Adds a listener; the first one starts this thread's watcher. */
  add(listener: (e: Transition) => void): void {
    if (this.#listeners === undefined) {
      this.#listeners = new Set();
      this.#seen = Atomics.load(this.#mem.v, STATE);
    }
    this.#listeners.add(listener);
    void this.#watch();
  }

  /** Removes a listener; with the last one gone this thread stops watching. */
  remove(listener: (e: Transition) => void): void {
    const ls = this.#listeners;
    if (ls?.delete(listener) && ls.size === 0) {
      this.#listeners = undefined;
      // Wake this thread's watcher so that it ends (watchers of other threads wake, find no news and sleep again).
      Atomics.notify(this.#mem.v, STATE);
    }
  }

  /** Tells this thread's listeners about transitions they have not heard of yet. */
  notice(): void {
    if (this.#listeners === undefined || Atomics.load(this.#mem.v, STATE) === this.#seen) return;
    const { word, changes } = this.#mem.since(this.#seen);
    this.#seen = word;
    for (const change of changes) {
      for (const l of [...(this.#listeners ?? [])]) {
        try {
          l(change);
        } catch (err) {
          // Like an EventEmitter listener's throw, but never into the call that noticed the change.
          queueMicrotask(() => {
            throw err;
          });
        }
      }
    }
  }

  /**
   * This thread's watcher: sleeps on the STATE word while there are listeners. Wake-ups are not lost:
   * it registers in WATCHERS before `waitAsync` compares STATE with what it has seen, and a writer
   * stores STATE before it reads WATCHERS (all sequentially consistent), so either the wait sees the
   * new word or the writer sees the watcher and notifies.
   */
  async #watch(): Promise<void> {
    if (this.#watching) return;
    this.#watching = true;
    const v = this.#mem.v;
    try {
      while (this.#listeners !== undefined) {
        Atomics.add(v, WATCHERS, 1);
        try {
          // Parks on STATE itself (a value word, like the spin lock's): it holds no ref'd handle on
          // purpose, since listeners must not keep a process alive.
          const w = parkAsync(v, STATE, this.#seen, undefined);
          if (w.async) await w.value;
        } finally {
          Atomics.sub(v, WATCHERS, 1);
        }
        this.notice();
      }
    } finally {
      this.#watching = false;
    }
  }
}
