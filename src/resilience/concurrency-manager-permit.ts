import { Guard } from '../sync/guard.js';

/** What a permit needs from its manager (private to the manager). */
export interface PermitHooks {
  release(): void;
  isHeld(): boolean;
  renew(lease: number | undefined): boolean;
}

/**
 * One permit of a `ConcurrencyManager`: give it back with `release()` or `using`. Releasing twice
 * is a no-op, and so is releasing after the lease expired and the permit was reclaimed.
 *
 * @example
 * ```ts
 * {
 *   using permit = await manager.acquire({ priority: 8, lease: 30_000 });
 *   await step1();
 *   permit.renew();          // another 30 s for a long job
 *   await step2();
 * } // released here
 * ```
 */
export class ConcurrencyPermit extends Guard {
  /** Priority it was acquired with (1..10). */
  readonly priority: number;
  /** Milliseconds it waited in the queue (0 when a permit was free at once). */
  readonly waitedMs: number;
  readonly #hooks: PermitHooks;

  /** @internal made by `ConcurrencyManager`. */
  constructor(hooks: PermitHooks, priority: number, waitedMs: number) {
    super(() => hooks.release());
    this.#hooks = hooks;
    this.priority = priority;
    this.waitedMs = waitedMs;
  }

  /** Whether this permit is still held: not released, and its lease (if any) not reclaimed. */
  override get held(): boolean {
    return super.held && this.#hooks.isHeld();
  }

  /**
   * Extends the lease to `lease` ms from now (default: the lease it was acquired with). Returns
   * false if the permit is no longer held, e.g. the lease already expired and was reclaimed.
   */
  renew(lease?: number): boolean {
    return super.held && this.#hooks.renew(lease);
  }
}
