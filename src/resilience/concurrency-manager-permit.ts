import { now } from '../memory/clock.js';
import { spinLock, spinUnlock } from '../memory/spin-lock.js';
import { Step, stepHook } from '../memory/step-hook.js';
import { Guard } from '../sync/guard.js';
import { LOCK } from './concurrency-manager-layout.js';
import { checkMs } from './limiter-util.js';
import type { LeaseTable } from './lease-table.js';

/** What a permit needs from its manager (private to the manager). */
export interface PermitHooks {
  release(): void;
  isHeld(): boolean;
  renew(lease: number | undefined): boolean;
}

/**
 * The hooks of the holding of permit slot `s` in `t` at generation `gen`, read under the lock that
 * granted it (read later, the lease may have run out meanwhile and the slot gone to another holder,
 * whose permit this one would then release): each takes the manager's lock, and each is a no-op
 * once that holding is over. `lease` is what `renew()` extends by default; `onRelease(at)` runs
 * after a release that counted.
 */
export function permitHooks(
  t: LeaseTable,
  s: number,
  gen: number,
  lease: number,
  onRelease: (at: number) => void,
): PermitHooks {
  const v = t.v;
  return {
    release: () => {
      const at = now();
      // The clock read, the lock not yet taken: the hand-off below judges waiters' deadlines by `at`.
      if (stepHook !== undefined) stepHook(Step.ManagerReleaseTimed);
      spinLock(v, LOCK);
      const ok = t.release(s, gen, at);
      spinUnlock(v, LOCK);
      if (ok) onRelease(at);
    },
    isHeld: () => {
      spinLock(v, LOCK);
      const held = t.isHeld(s, gen);
      spinUnlock(v, LOCK);
      return held;
    },
    renew: (ms) => {
      const l = ms === undefined ? lease : checkMs(ms, 'lease', false);
      spinLock(v, LOCK);
      const ok = t.renew(s, gen, l, now());
      spinUnlock(v, LOCK);
      return ok;
    },
  };
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
