/**
 * What the pool checks on a timer: task timeouts, kill graces, idle shrinking.
 *
 * A task past its time limit rejects with TimeoutError at once and its `ctx.signal` aborts; a
 * worker that still runs it `killGrace` ms later is stuck (a synchronous loop) and is terminated,
 * and the lifecycle replaces it. The timer is unref'd: it keeps no process alive.
 * Internal to the pool (not exported from the package root).
 */
import { fastNow as now } from '../../memory/clock.js';
import { TimeoutError } from '../../memory/errors.js';
import { SlotState, W_INFLIGHT, W_STATE, WorkerState } from '../shared/index.js';
import type { ResolvedOptions } from './options.js';
import type { PoolMemory } from './pool-memory.js';
import type { Settler } from './ports.js';
import type { WorkerEntry } from './worker-entry.js';
import type { WorkerLifecycle } from './worker-lifecycle.js';

export class Sweeper {
  #timer: ReturnType<typeof setInterval> | undefined;
  #period = Infinity;
  readonly #base: number;

  constructor(
    private readonly mem: PoolMemory,
    private readonly o: ResolvedOptions,
    private readonly settler: Settler,
    private readonly workers: WorkerLifecycle,
  ) {
    this.#base = Math.max(10, Math.min(1000, o.idleTimeout / 4));
    this.every(this.#base);
  }

  /** A task with a time limit (or a kill grace) of `ms` began: sweep often enough for it. */
  armFor(ms: number): void {
    this.every(Math.max(1, Math.min(this.#base, ms / 4)));
  }

  /** Runs the sweep at least every `ms`. */
  every(ms: number): void {
    if (ms >= this.#period || this.#timer === null) return;
    if (this.#timer) clearInterval(this.#timer);
    this.#period = ms;
    this.#timer = setInterval(() => this.sweep(), ms);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#period = 0;
  }

  sweep(): void {
    const { mem, o, workers } = this;
    const { L, slots } = mem;
    if (slots.timed > 0) {
      // Results first: a task whose result waits for a busy main thread has ended (FINISHED, never
      // timed out below); reading it now hands its caller the value without waiting for the loop.
      this.settler.drain();
    }
    const t = now();
    if (slots.timed > 0) {
      for (let s = 0; s < slots.size; s++) {
        const limit = slots.timeout[s];
        if (limit <= 0 || slots.target[s] === undefined) continue;
        if (mem.slotState(s) !== SlotState.Running) continue;
        if (t - mem.times[L.start + s] < limit) continue;
        this.settler.settleEarly(s, new TimeoutError(`task timed out after ${limit} ms`));
        workers.abortRunning(s, limit);
      }
    }
    // Workers that stay: retiring stops at minWorkers (as scaleDown and the limit leave it, not the
    // configured one), counting the ones retired in this pass.
    const floor = workers.minWorkers;
    let staying = 0;
    for (const e of workers.entries) if (e && !e.exited && !e.leaving) staying++;
    for (const e of workers.entries) {
      if (!e || e.exited) continue;
      if (e.killAt > 0 && t >= e.killAt) {
        const next = nextKill(mem, e, t);
        if (next < 0) {
          e.killAt = 0;
          e.lastError = new TimeoutError(
            `worker ${e.id} did not give up a timed-out or aborted task; terminated`,
          );
          void e.terminate();
        } else {
          e.killAt = next;
        }
      }
      if (
        !workers.closing &&
        staying > floor &&
        e.ready &&
        !e.leaving &&
        mem.workerWord(e.index, W_STATE) === WorkerState.Idle &&
        mem.workerWord(e.index, W_INFLIGHT) === 0 &&
        t - mem.times[L.active + e.index] > o.idleTimeout
      ) {
        workers.retireIdle(e);
        staying--;
      }
    }
    // Nothing timed left to watch: back to the base period (a 4 ms limit once must not leave the
    // pool sweeping every millisecond for the rest of its life).
    if (slots.timed === 0 && this.#period > 0 && this.#period < this.#base && !workers.entries.some((e) => e && !e.exited && e.killAt > 0)) {
      this.#relax();
    }
  }

  #relax(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#period = Infinity;
    this.every(this.#base);
  }
}

/**
 * For worker `e`: -1 if a task whose caller was already answered (timeout, abort) is still running
 * past its kill grace; otherwise the earliest grace end still ahead (0 if none).
 */
function nextKill(mem: PoolMemory, e: WorkerEntry, t: number): number {
  const { slots } = mem;
  let next = 0;
  for (let s = 0; s < slots.size; s++) {
    const due = slots.killAt[s];
    if (due === 0 || slots.target[s] !== undefined) continue;
    if (mem.slotOwner(s) !== e.index || mem.slotState(s) !== SlotState.Running) continue;
    if (due <= t) return -1;
    if (next === 0 || due < next) next = due;
  }
  return next;
}

/**
 * Whether worker `e` has run one task for longer than `limit` ms without progress: since it started,
 * or since it last told of progress (a parallel call's participant after each chunk; PROGRESS in
 * shared/layout.ts), whichever is later. A long call whose chunks keep ending is not stuck.
 */
export function isStuck(mem: PoolMemory, e: WorkerEntry, t: number, limit: number): boolean {
  const { L, slots, times } = mem;
  for (let s = 0; s < slots.size; s++) {
    if (
      mem.slotState(s) === SlotState.Running &&
      mem.slotOwner(s) === e.index &&
      t - Math.max(times[L.start + s], times[L.progress + s]) > limit
    ) {
      return true;
    }
  }
  return false;
}
