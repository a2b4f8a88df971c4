/**
 * What `acquire()` and `lock()` resolve to: release it once, by hand or with `using`.
 * Releasing twice is a no-op, so a `finally` and a `using` may both release.
 *
 * @example
 * ```ts
 * {
 *   using permit = await semaphore.acquire();
 *   await work();
 * } // released here
 * ```
 */
export class Guard implements Disposable {
  #release: (() => void) | undefined;

  constructor(release: () => void) {
    this.#release = release;
  }

  /** Gives the permit back; later calls do nothing. */
  release(): void {
    const r = this.#release;
    this.#release = undefined;
    r?.();
  }

  /** Whether this guard still holds its permit. */
  get held(): boolean {
    return this.#release !== undefined;
  }

  [Symbol.dispose](): void {
    this.release();
  }
}
