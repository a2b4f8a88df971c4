/**
 * What a dead worker leaves behind: tasks it held (settled, or put back when it never started
 * them) and tasks it left inside a claim. It owns the set of dead indexes not yet recovered; the
 * lifecycle calls it from a worker's exit.
 * Internal to the pool (not exported from the package root).
 */
import { WorkerCrashedError, WorkerOutOfMemoryError } from '../errors.js';
import { SlotState, W_CLAIMING, W_INFLIGHT } from '../shared/index.js';
import type { PoolMemory } from './pool-memory.js';
import type { Placer, Settler } from './ports.js';
import type { Target } from './task-queue.js';
import type { WorkerEntry } from './worker-entry.js';

export class ClaimRecovery {
  /** Indexes of workers that died since their unclaimed records were last recovered. */
  readonly #dead = new Set<number>();
  /**
   * Slots cancelled in a ring whose claimer died before its Skipped result was read: it named
   * itself (SLOT_OWNER) and its CAS found CANCELLED, so only that result would have freed them.
   * Collected at the exit, while the index names the dead worker alone (a replacement may take it
   * over), and freed by #recover: the record may still be unmarked, and it must be marked
   * (recoverOrphans) before its slot can hold another task.
   */
  readonly #skipOwed = new Set<number>();

  constructor(
    private readonly mem: PoolMemory,
    private readonly settler: Settler,
    private readonly placer: Placer,
    private readonly entries: readonly (WorkerEntry | undefined)[],
  ) {}

  /**
   * After worker `e` exited with `code`: tasks it was running fail with a WorkerCrashedError (which
   * is returned), tasks it had claimed but not started are put back, and its unfinished claims are
   * recovered.
   */
  workerExited(e: WorkerEntry, code: number): WorkerCrashedError {
    const { mem, settler } = this;
    const { slots } = mem;
    // Out of memory under resourceLimits: the tasks it was running (with concurrency 1, the one that
    // ran it out) get the named subclass; what it had only claimed runs elsewhere as for any crash.
    const oom = (e.lastError as { code?: string } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
    const crash = new (oom ? WorkerOutOfMemoryError : WorkerCrashedError)(
      `worker ${e.id} ${oom ? 'ran out of memory (resourceLimits)' : `exited with code ${code}`} while running the task${e.lastError ? `: ${e.lastError.message}` : ''}`,
      e.id,
      code,
      e.lastError ? { cause: e.lastError } : undefined,
    );
    for (let s = 0; s < slots.size; s++) {
      const st = mem.slotState(s);
      if (mem.slotOwner(s) !== e.index) continue;
      if (st === SlotState.Cancelled) {
        // Aborted in its hands (the caller has its AbortError): nothing else refers to the slot.
        if (slots.cancelledAfterClaim[s]) settler.finishSlot(s, false, undefined);
        // Cancelled in the ring and claimed by it, its Skipped result never written (claim C5).
        else this.#skipOwed.add(s);
        continue;
      }
      // claim C9: FINISHED with no result read (its ring was drained before this) fails as RUNNING does.
      if (st !== SlotState.Claimed && st !== SlotState.Running && st !== SlotState.Finished) continue;
      const resendable = !slots.direct[s] || slots.input[s] !== undefined; // direct without a transfer
      if (st === SlotState.Claimed && resendable && slots.target[s] !== undefined) this.#requeue(s);
      else settler.finishSlot(s, false, slots.target[s] === undefined ? undefined : crash);
    }
    mem.setWorkerWord(e.index, W_INFLIGHT, 0);
    mem.setWorkerWord(e.index, W_CLAIMING, 0);
    this.#dead.add(e.index);
    this.#recover();
    return crash;
  }

  /**
   * Recovers what dead workers left inside a claim (terminated or out of memory between their HEAD
   * CAS and their slot CASes). A claimer names itself on each slot (SLOT_OWNER), then marks the
   * record CONSUMED, then CASes the slot QUEUED -> CLAIMED. So a dead claimer leaves either a record
   * below HEAD not CONSUMED, or a QUEUED slot with its name on it (place() resets the name to -1).
   * Such tasks go back in the rings, or are freed if an abort cancelled them meanwhile; without this
   * they would never settle and their ring would stall at the record.
   *
   * Safe only while no live worker is inside a claim: HEAD is read first, so any claim its value
   * includes had set its worker's CLAIMING before; if one is set, this retries in 1 ms. Claims begun
   * later start at or above that HEAD and touch none of these records or slots.
   */
  #recover(): void {
    if (this.#dead.size === 0) return;
    const { mem, placer } = this;
    const heads = placer.ringHeads(); // claim C9: HEAD first, then every live worker's CLAIMING

    for (const e of this.entries) {
      if (e && !e.exited && mem.workerWord(e.index, W_CLAIMING) !== 0) {
        setTimeout(() => this.#recover(), 1).unref();
        return;
      }
    }
    const { slots } = mem;
    const lost = new Set<number>();
    placer.recoverOrphans(heads, (s) => lost.add(s));
    for (let s = 0; s < slots.size; s++) {
      if (mem.slotState(s) === SlotState.Queued && this.#dead.has(mem.slotOwner(s))) lost.add(s);
    }
    for (const s of this.#skipOwed) lost.add(s);
    this.#dead.clear();
    this.#skipOwed.clear();
    for (const s of lost) {
      const st = mem.slotState(s);
      // A task whose caller was already answered (a forced close, a pool that gave up) has no
      // target: freed, as the crash path above frees it, not put back for nobody to settle.
      if (st === SlotState.Queued && slots.target[s] !== undefined) this.#requeue(s);
      else if (st === SlotState.Queued) this.settler.finishSlot(s, false, undefined);
      else if (st === SlotState.Cancelled && !slots.cancelledAfterClaim[s]) this.settler.finishSlot(s, false, undefined);
    }
    if (lost.size > 0) placer.refill();
  }

  /** Puts a claimed-but-not-started task of a dead worker back in its ring (or the queue): claim C10. */
  #requeue(s: number): void {
    const { mem } = this;
    const { slots } = mem;
    const target = slots.target[s] as Target;
    const aux = slots.aux[s];
    const extras = slots.extras[s];
    const prio = slots.priority[s];
    const fnId = slots.fnId[s];
    const input = slots.input[s];
    const enq = mem.times[mem.L.enq + s];
    mem.setSlotState(s, SlotState.Free);
    slots.release(s);
    this.placer.placeOrQueue(prio, input, fnId, target, aux, extras, enq);
  }
}
