/**
 * Aborting a task: a queued task never runs; a running one sees `ctx.signal` abort.
 *
 * The task's ticket says where it is: in the main thread's queue (seq) or in a slot (set when it is
 * placed). For a slot, a CAS on the slot's state word decides the race with a worker starting it:
 * QUEUED or CLAIMED -> CANCELLED wins before the worker's CLAIMED -> RUNNING, and the worker then
 * skips the task; if the worker won, the task is running and its signal is aborted by message.
 * Either way the caller's promise rejects with AbortError at once. A task whose slot already reads
 * FINISHED (it ran to its end; the main thread has not read its result yet) is not aborted: the
 * caller gets its result (or its error), as if the abort had come a moment later.
 *
 * A batch often shares one signal: every task that carries it is one watcher in that signal's
 * registry (memory/signal-watch.ts, one listener per signal, O(1) add and remove), removed when
 * the task settles by any path (settlement.ts), so the signal keeps nothing of the pool's.
 */
import type { TransferListItem } from 'node:worker_threads';
import { AbortError } from '../../memory/errors.js';
import { SignalWatcher, watchSignal } from '../../memory/signal-watch.js';
import { SlotState } from '../shared/index.js';
import type { PoolCore } from './pool-core.js';
import type { Target, TaskExtras, TaskTicket } from './task-queue.js';

/**
 * The extras of a task with a signal, which are also its watch on that signal and its abort state:
 * one object per task (a batch of 160k tasks on one signal allocates nothing else for it).
 */
class AbortTicket extends SignalWatcher implements TaskExtras, TaskTicket {
  /** The task's sequence number in the main thread's queue (while it is queued there). */
  seq = -1;
  /** The slot it was placed in (-1 until placed). */
  slot = -1;

  constructor(
    readonly core: PoolCore,
    readonly prio: number,
    readonly signal: AbortSignal,
    readonly timeout: number,
    public transfer: readonly TransferListItem[] | undefined,
  ) {
    super();
  }

  get ticket(): TaskTicket {
    return this;
  }

  onAbort(): void {
    const { mem, settlement } = this.core;
    const err = new AbortError('the task was aborted', { cause: this.signal.reason });
    // (AbortError formats its stack at once, so the error does not hold this ticket, the receiver of
    // this frame, and the pool's core through it.) Let go of the buffers to move, which no path
    // needs after an abort (a task posted with them has moved them already; a queued one never will).
    this.transfer = undefined;
    const s = this.slot;
    if (s < 0 || mem.slots.extras[s] !== this) {
      mem.queue.cancel(this.prio, this.seq, (target, aux) => settlement.failUnplaced(target, aux, err));
      return;
    }
    if (!cancelUnstarted(this.core, s, err)) abortStarted(this.core, s, err);
  }
}

/**
 * The task in slot `s`, if it has not started, never will: claim C7's CAS (QUEUED or CLAIMED ->
 * CANCELLED) wins before its worker's CLAIMED -> RUNNING, the worker then skips it, and its caller
 * gets `err` now. False if the worker won (it is running, or ran).
 */
function cancelUnstarted(core: PoolCore, s: number, err: Error): boolean {
  const { mem, settlement } = core;
  const at = mem.L.slotState + s;
  const wasQueued = Atomics.compareExchange(mem.ctl, at, SlotState.Queued, SlotState.Cancelled) === SlotState.Queued;
  const wasClaimed =
    !wasQueued && Atomics.compareExchange(mem.ctl, at, SlotState.Claimed, SlotState.Cancelled) === SlotState.Claimed;
  if (wasClaimed) mem.slots.cancelledAfterClaim[s] = 1;
  else if (wasQueued) {
    mem.slots.cancelledQueued[s] = 1;
    mem.slots.cancelledInRing++;
  } else return false;
  settlement.settleEarly(s, err);
  return true;
}

/** The task in slot `s` started: its caller gets `err` now and its signal aborts, unless it ran to its end. */
function abortStarted(core: PoolCore, s: number, err: Error): void {
  // Ran to its end already (claim C8): its outcome is written, or being written, and the main
  // thread has not read it yet. The work is done, so the caller gets that outcome, not an
  // AbortError with the result thrown away; it settles once, when the result is read (or with
  // WorkerCrashedError if its worker dies before writing it, C9). FINISHED is only ever left by
  // the main thread, so this read cannot go stale before then.
  if (Atomics.load(core.mem.ctl, core.mem.L.slotState + s) === SlotState.Finished) return;
  core.settlement.settleEarly(s, err);
  core.workers.abortRunning(s);
}

/**
 * Cancels every task that settles into `target`, whose caller no longer wants any of them (a
 * `map` whose consumer broke off, or that failed): the queued ones and those in slots not yet
 * started first, then the running ones are aborted, so a worker that an abort frees never starts
 * one of them. O(queue + slots), once per call; nothing per task.
 */
export function cancelTasksOf(core: PoolCore, target: Target, err: Error): void {
  const { mem, settlement } = core;
  mem.queue.cancelTarget(target, (aux, extras) => settlement.failQueued(target, aux, extras, err));
  const started: number[] = [];
  for (let s = 0; s < mem.slots.size; s++) {
    if (mem.slots.target[s] === target && !cancelUnstarted(core, s, err)) started.push(s);
  }
  for (const s of started) if (mem.slots.target[s] === target) abortStarted(core, s, err);
}

/** The extras of a task of priority `prio` with `signal` (not watched yet: see {@link watchAbort}). */
export function abortableExtras(
  core: PoolCore,
  prio: number,
  signal: AbortSignal,
  timeout: number,
  transfer: readonly TransferListItem[] | undefined,
): TaskExtras {
  return new AbortTicket(core, prio, signal, timeout, transfer);
}

/** Makes the task watch its signal (the caller checked it has not aborted yet). */
export function watchAbort(extras: TaskExtras): void {
  if (extras.ticket) watchSignal(extras.signal as AbortSignal, extras.ticket);
}
