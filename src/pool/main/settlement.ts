/**
 * The main thread's half of a task's end: reading results, settling callers, freeing slots, and
 * waking whoever waits for the pool to drain. Free functions over the PoolCore's state, so that the
 * core (pool-core.ts) holds only the submit side.
 * Internal to the pool (not exported from the package root).
 */
import { reviveDeep } from '../../memory/handle.js';
import { unwatchSignal } from '../../memory/signal-watch.js';
import { isErrorRecord, MAIN_SEQ, recordToError, ResultStatus, SlotState } from '../shared/index.js';
import { wake } from '../../memory/wait.js';
import type { PoolCore } from './pool-core.js';
import type { Aux, Target, TaskExtras } from './task-queue.js';

/** Reads every worker's published results and settles them; then refills the rings. */
export function drain(core: PoolCore): number {
  let n = 0;
  for (const mem of core.indexMem) if (mem.results.hasResults()) n += mem.results.drain(core.onResult);
  if (n > 0) {
    core.dispatch();
    core.publish();
  }
  return n;
}

export function finishResult(core: PoolCore, slot: number, status: number, value: unknown): void {
  if (status === ResultStatus.Skipped) finishSlot(core, slot, false, undefined);
  else if (status === ResultStatus.Ok) finishSlot(core, slot, true, value);
  else finishSlot(core, slot, false, isErrorRecord(value) ? recordToError(value) : value);
}

/** A result that came by message (oversized, or holding shared objects). */
export function messageResult(core: PoolCore, slot: number, status: number, value: unknown): void {
  finishResult(core, slot, status, reviveDeep(value));
  core.dispatch();
  core.publish();
  endResultLoopIfIdle(core);
}

/**
 * When the last task ended off the result rings (a message, a crash, a close), the result loop
 * still sleeps in its 1 s waitAsync holding the process alive: wake it so it sees nothing is out.
 */
export function endResultLoopIfIdle(core: PoolCore): void {
  if (core.looping && isIdle(core)) wake(core.ctl, MAIN_SEQ);
}

/** Settles a slot's task (if nobody settled it yet) and frees the slot. */
export function finishSlot(core: PoolCore, s: number, ok: boolean, value: unknown): void {
  const slots = core.slots;
  const target = slots.target[s];
  const aux = slots.aux[s];
  const extras = slots.extras[s];
  unwatch(extras);
  if (slots.direct[s]) {
    const e = core.entries[Atomics.load(core.ctl, core.L.slotOwner + s)];
    if (e) e.direct--;
  }
  Atomics.store(core.ctl, core.L.slotState + s, SlotState.Free);
  slots.release(s);
  if (target !== undefined) {
    if (ok) core.completed++;
    else core.failed++;
    settle(target, aux, ok, value);
  }
  if (isIdle(core)) notifyIdle(core);
}

/** Settles now and detaches the slot from its outcome; the worker's late result is then ignored. */
export function settleEarly(core: PoolCore, s: number, err: Error): void {
  const slots = core.slots;
  const target = slots.target[s];
  if (target === undefined) return;
  const aux = slots.aux[s];
  slots.target[s] = undefined;
  unwatch(slots.extras[s]);
  core.failed++;
  settle(target, aux, false, err);
}

/** A task that settled stops watching its signal (abort-watch.ts); O(1), and a no-op the second time. */
function unwatch(extras: TaskExtras | undefined): void {
  if (extras?.ticket !== undefined) unwatchSignal(extras.ticket);
}

/** Hands an outcome to its caller: a single task's resolver, or a batch collector. */
export function settle(target: Target, aux: Aux, ok: boolean, value: unknown): void {
  if (typeof target === 'function') target(ok ? value : Promise.reject(value));
  else target.settle(aux, ok, value);
}

/** Rejects everything queued or out with `err` (force close, a module that cannot load). */
export function rejectAll(core: PoolCore, err: Error): void {
  core.queue.clear((t, a, extras) => {
    unwatch(extras);
    core.failed++;
    settle(t, a, false, err);
  });
  for (let s = 0; s < core.slots.size; s++) if (core.slots.target[s] !== undefined) settleEarly(core, s, err);
  notifyIdle(core);
  endResultLoopIfIdle(core);
}

/** Whether nothing is queued or out. */
export function isIdle(core: PoolCore): boolean {
  return core.queue.length === 0 && core.slots.inUse === 0;
}

/** How often waiters re-check on their own (see {@link waitFor}). */
const IDLE_POLL_MS = 5;

/**
 * Resolves when `ready()` holds (or the pool broke), re-checking whenever work drains, and every
 * few ms besides: a worker claiming the last queued record makes the queue empty without any event
 * on the main thread. The poll timer is unref'd and runs only while someone waits.
 */
export function waitFor(core: PoolCore, ready: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (ready() || core.broken) resolve();
      else {
        core.idleWaiters.push(check);
        if (!core.idlePoll) {
          core.idlePoll = setInterval(() => notifyIdle(core), IDLE_POLL_MS);
          core.idlePoll.unref();
        }
      }
    };
    check();
  });
}

export function notifyIdle(core: PoolCore): void {
  if (core.idleWaiters.length > 0) {
    const w = core.idleWaiters;
    core.idleWaiters = [];
    for (const f of w) f();
  }
  if (core.idleWaiters.length === 0 && core.idlePoll) {
    clearInterval(core.idlePoll);
    core.idlePoll = undefined;
  }
}
