/**
 * Aborting a task: a queued task never runs; a running one sees `ctx.signal` abort.
 *
 * The task's ticket says where it is: in the main thread's queue (seq) or in a slot (set when it is
 * placed). For a slot, a CAS on the slot's state word decides the race with a worker starting it:
 * QUEUED or CLAIMED -> CANCELLED wins before the worker's CLAIMED -> RUNNING, and the worker then
 * skips the task; if the worker won, the task is running and its signal is aborted by message.
 * Either way the caller's promise rejects with AbortError at once.
 */
import { AbortError } from '../../memory/errors.js';
import { SlotState } from '../shared/index.js';
import type { PoolCore } from './pool-core.js';
import { settle, settleEarly } from './settlement.js';
import type { Aux, Target, TaskExtras } from './task-queue.js';
import { abortRunning } from './worker-lifecycle.js';

export function watchAbort(core: PoolCore, extras: TaskExtras, prio: number, target: Target, aux: Aux): void {
  const signal = extras.signal as AbortSignal;
  const ticket = { seq: -1, slot: -1 };
  extras.ticket = ticket;
  extras.onAbort = () => {
    const err = new AbortError('the task was aborted', { cause: signal.reason });
    const s = ticket.slot;
    if (s < 0 || core.slots.extras[s] !== extras) {
      if (core.queue.cancel(prio, ticket.seq)) {
        core.failed++;
        settle(target, aux, false, err);
      }
      return;
    }
    const at = core.L.slotState + s;
    const wasQueued =
      Atomics.compareExchange(core.ctl, at, SlotState.Queued, SlotState.Cancelled) === SlotState.Queued;
    const wasClaimed =
      !wasQueued &&
      Atomics.compareExchange(core.ctl, at, SlotState.Claimed, SlotState.Cancelled) === SlotState.Claimed;
    if (wasClaimed) core.slots.cancelledAfterClaim[s] = 1;
    const notStarted = wasQueued || wasClaimed;
    settleEarly(core, s, err);
    if (!notStarted) abortRunning(core, s);
  };
  signal.addEventListener('abort', extras.onAbort, { once: true });
}
