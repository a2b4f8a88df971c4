/**
 * The main thread's half of a task's end: reading results, settling callers, freeing slots, and
 * waking whoever waits for the pool to drain. It owns the pool's outcome counts, the idle waiters
 * and the result loop; dispatch and the lifecycle reach it only through {@link Settler}.
 * Internal to the pool (not exported from the package root).
 */
import { decodeOwned, type Encoded } from '../../memory/codec.js';
import { reviveDeep } from '../../memory/handle.js';
import { unwatchSignal } from '../../memory/signal-watch.js';
import { abortError, notifyAll, timeoutError, type WaitOptions, watchExit } from '../../memory/wait/index.js';
import { isErrorRecord, mainWord, recordToError, ResultStatus, SlotState } from '../shared/index.js';
import type { PoolMemory } from './pool-memory.js';
import type { Placer, Settler, WorkerView } from './ports.js';
import { runResultLoop } from './result-loop.js';
import type { Aux, Target, TaskExtras } from './task-queue.js';

/** How often waiters re-check on their own (see {@link Settlement.waitFor}). */
const IDLE_POLL_MS = 5;

export class Settlement implements Settler {
  #completed = 0;
  #failed = 0;
  #idleWaiters: (() => void)[] = [];
  /** Re-checks the idle waiters while there are any (see {@link waitFor}). */
  #idlePoll: ReturnType<typeof setInterval> | undefined;
  #looping = false;
  #placer: Placer | undefined;

  constructor(
    private readonly mem: PoolMemory,
    private readonly workers: WorkerView,
  ) {}

  /** Joins dispatch, built after settlement (pool-core.ts). */
  connect(placer: Placer): void {
    this.#placer = placer;
  }

  get completed(): number {
    return this.#completed;
  }

  get failed(): number {
    return this.#failed;
  }

  /** Reads every worker's published results and settles them; then refills the rings. */
  drain(): number {
    let n = 0;
    for (const m of this.workers.indexMem) if (m.results.hasResults()) n += m.results.drain(this.onResult);
    if (n > 0) this.#placer?.refill();
    return n;
  }

  readonly onResult = (slot: number, status: number, value: unknown, decodeError: unknown): void => {
    if (decodeError !== undefined) this.finishSlot(slot, false, decodeError);
    else this.#finishResult(slot, status, value);
  };

  #finishResult(slot: number, status: number, value: unknown): void {
    if (status === ResultStatus.Skipped) this.finishSlot(slot, false, undefined);
    else if (status === ResultStatus.Ok) this.finishSlot(slot, true, value);
    else this.finishSlot(slot, false, isErrorRecord(value) ? recordToError(value) : value);
  }

  /** A result that came by message (oversized, or holding shared objects). */
  messageResult(slot: number, status: number, value: unknown, encoded = false): void {
    let v: unknown;
    try {
      v = encoded ? decodeOwned(value as Encoded) : reviveDeep(value);
    } catch (err) {
      // (as onResult does for a ring record it cannot decode)
      this.finishSlot(slot, false, err);
      this.#placer?.refill();
      this.endResultLoopIfIdle();
      return;
    }
    this.#finishResult(slot, status, v);
    this.#placer?.refill();
    this.endResultLoopIfIdle();
  }

  /**
   * When the last task ended off the result rings (a message, a crash, a close), the result loop
   * still sleeps in its 1 s waitAsync holding the process alive: wake it so it sees nothing is out.
   */
  endResultLoopIfIdle(): void {
    if (this.#looping && this.isIdle()) notifyAll(mainWord(this.mem.ctl));
  }

  ensureResultLoop(): void {
    if (this.#looping) return;
    this.#looping = true;
    runResultLoop(this, () => {
      this.#looping = false;
    });
  }

  finishSlot(s: number, ok: boolean, value: unknown): void {
    const { slots } = this.mem;
    const target = slots.target[s];
    const aux = slots.aux[s];
    const extras = slots.extras[s];
    unwatch(extras);
    if (slots.direct[s]) {
      const e = this.workers.entryAt(this.mem.slotOwner(s));
      if (e) e.direct--;
    }
    this.mem.setSlotState(s, SlotState.Free); // claim C8: its result was read, or its owner is gone
    slots.release(s);
    if (target !== undefined) {
      if (ok) this.#completed++;
      else this.#failed++;
      settle(target, aux, ok, value);
    }
    if (this.isIdle()) this.notifyIdle();
  }

  settleEarly(s: number, err: Error): void {
    const { slots } = this.mem;
    const target = slots.target[s];
    if (target === undefined) return;
    const aux = slots.aux[s];
    slots.target[s] = undefined;
    unwatch(slots.extras[s]);
    this.#failed++;
    settle(target, aux, false, err);
  }

  /** A task taken out of the queue by its caller (not by its own signal): it stops watching that too. */
  failQueued(target: Target, aux: Aux, extras: TaskExtras | undefined, err: unknown): void {
    unwatch(extras);
    this.failUnplaced(target, aux, err);
  }

  failUnplaced(target: Target, aux: Aux, err: unknown): void {
    this.#failed++;
    settle(target, aux, false, err);
  }

  rejectAll(err: Error): void {
    const { queue, slots } = this.mem;
    queue.clear((t, a, extras) => {
      unwatch(extras);
      this.failUnplaced(t, a, err);
    });
    for (let s = 0; s < slots.size; s++) if (slots.target[s] !== undefined) this.settleEarly(s, err);
    this.notifyIdle();
    this.endResultLoopIfIdle();
  }

  /** Whether nothing is queued or out. */
  isIdle(): boolean {
    return this.mem.queue.length === 0 && this.mem.slots.inUse === 0;
  }

  /**
   * Resolves when `ready()` holds (or the pool broke), re-checking whenever work drains, and every
   * few ms besides: a worker claiming the last queued record makes the queue empty without any event
   * on the main thread. The poll timer is unref'd and runs only while someone waits. With `opts`,
   * rejects with TimeoutError (`what` names the wait) or AbortError, as every async wait does.
   */
  waitFor(ready: () => boolean, opts?: WaitOptions, what = 'wait'): Promise<void> {
    return new Promise((resolve, reject) => {
      // With a timeout or a signal the wait may end first: it then stops re-checking (a check left
      // in the waiters after that returns without queueing itself again).
      let over = false;
      let stopExit: (() => void) | undefined;
      const end = (err?: Error): void => {
        if (over) return;
        over = true;
        stopExit?.();
        if (err) reject(err);
        else resolve();
      };
      const check = (): void => {
        if (over) return;
        if (ready() || this.workers.broken) end();
        else {
          this.#idleWaiters.push(check);
          if (!this.#idlePoll) {
            this.#idlePoll = setInterval(() => this.notifyIdle(), IDLE_POLL_MS);
            this.#idlePoll.unref();
          }
        }
      };
      const signal = opts?.signal;
      if (signal?.aborted) return end(abortError(signal));
      check();
      if (!over) stopExit = watchExit(signal, opts?.timeout, () => timeoutError(what, opts?.timeout), end);
    });
  }


  notifyIdle(): void {
    if (this.#idleWaiters.length > 0) {
      const w = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const f of w) f();
    }
    if (this.#idleWaiters.length === 0 && this.#idlePoll) {
      clearInterval(this.#idlePoll);
      this.#idlePoll = undefined;
    }
  }

  /** The control block the result loop sleeps on. */
  get ctl(): Int32Array {
    return this.mem.ctl;
  }
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
