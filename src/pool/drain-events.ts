/**
 * The pool's `'drain'` event (piscina's name): listeners are called each time the waiting tasks run
 * out after some were waiting. Nothing is watched while no listener is registered.
 * Internal to the pool (not exported from the package root).
 */
import { InvalidArgumentError } from '../memory/errors.js';

export class DrainEvents {
  #listeners: (() => void)[] | undefined;
  #armed = false;

  constructor(
    /** Tasks waiting to start now. */
    private readonly waiting: () => number,
    /** Resolves once `cond` holds (re-checked as work drains and every few ms). */
    private readonly waitFor: (cond: () => boolean) => Promise<void>,
  ) {}

  on(event: string, listener: () => void): void {
    if (!this.#check(event, listener)) return;
    (this.#listeners ??= []).push(listener);
    this.arm();
  }

  /** `on`, for one call only (node:events `once(pool, 'drain')` calls it, with an 'error' listener beside). */
  once(event: string, listener: () => void): void {
    if (!this.#check(event, listener)) return;
    const wrapper = Object.assign(
      () => {
        this.off('drain', wrapper);
        listener();
      },
      { listener },
    );
    this.on('drain', wrapper);
  }

  off(event: string, listener: () => void): void {
    const ls = this.#listeners;
    const i =
      event === 'drain' && ls
        ? ls.findIndex((l) => l === listener || (l as { listener?: unknown }).listener === listener)
        : -1;
    if (i >= 0) ls?.splice(i, 1);
    if (ls?.length === 0) this.#listeners = undefined;
  }

  /**
   * Whether `listener` is for 'drain'. An 'error' listener is taken and never called: a pool reports
   * failures through each task's promise, and node:events `once` adds one to whatever it waits on.
   */
  #check(event: string, listener: () => void): boolean {
    if (event !== 'drain' && event !== 'error')
      throw new InvalidArgumentError(`WorkerPool has no event '${event}' (it has 'drain')`);
    if (typeof listener !== 'function') throw new InvalidArgumentError('a listener must be a function');
    return event === 'drain';
  }

  /** After tasks were submitted: once some wait, watch for none waiting, then call the listeners. */
  arm(): void {
    if (!this.#listeners || this.#armed || this.waiting() === 0) return;
    this.#armed = true;
    void this.waitFor(() => this.waiting() === 0).then(() => {
      this.#armed = false;
      for (const l of [...(this.#listeners ?? [])]) l();
    });
  }
}
