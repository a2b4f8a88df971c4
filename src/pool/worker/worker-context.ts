/**
 * Worker side: the `ctx` a task function receives, and the abort state behind `ctx.signal`.
 *
 * A task is named by its slot and the slot's generation (SLOT_GEN in shared/layout.ts): an abort
 * message names both, and is dropped unless that very task is running here now. A slot's number is
 * reused as soon as the main thread has read a task's result, so an abort sent for a task that
 * was ending can arrive when the slot holds the next task (on this worker or another); by slot
 * alone it would abort that unrelated task.
 *
 * An AbortController is made only when a task reads `ctx.signal` (most never do). An abort that
 * arrives for a running task before it read its signal is noted, and the signal is born aborted;
 * the note belongs to that task and dies with it (`release`). Code that only asks whether its task
 * was aborted calls {@link taskAborted}, which makes none: on Node 20 one AbortController costs
 * ~3.6 µs and outlives young-generation GCs (it is promoted), so one per task grew the workers'
 * heaps and the native memory that waits on their GCs.
 * Internal to the pool (not exported from the package root).
 */
import { AbortError, TimeoutError } from '../../memory/errors.js';
import type { TaskContext } from './worker-main-types.js';

export class TaskControls {
  readonly #controllers = new Map<number, AbortController>();
  /** Per slot: 1 while a task of this worker runs in it. */
  readonly #live: Uint8Array;
  /** Per slot: the generation of the task running in it. */
  readonly #gen: Int32Array;
  /** Per slot: 1 when its running task was aborted before it read `ctx.signal`. */
  readonly #abortedEarly: Uint8Array;
  /** Per slot: the time limit (ms) that task ran past, when that was why it was aborted (0: an abort). */
  readonly #timedOut: Float64Array;
  /** Per slot: 1 while its running task was asked to abort and has not ended yet. */
  readonly #abortedLive: Uint8Array;
  /**
   * Running tasks asked to abort (a timeout, a caller's signal) that have not ended yet. Their
   * callers were answered already, and the main thread terminates this worker if one still runs
   * at the end of its kill grace (sweep.ts): the worker claims nothing new meanwhile, or a task
   * started now would die with it (WorkerCrashedError) though it had nothing to do with the abort.
   */
  detached = 0;

  constructor(
    readonly workerId: number,
    slots: number,
    /** Stores that the task in `slot` made progress now (the worker: PROGRESS in shared/layout.ts). */
    private readonly onProgress: (slot: number) => void = () => {},
  ) {
    this.#live = new Uint8Array(slots);
    this.#gen = new Int32Array(slots);
    this.#abortedEarly = new Uint8Array(slots);
    this.#timedOut = new Float64Array(slots);
    this.#abortedLive = new Uint8Array(slots);
  }

  /** The task of generation `gen` starts running in `slot`. */
  begin(slot: number, gen: number): void {
    this.#live[slot] = 1;
    this.#gen[slot] = gen;
    this.#abortedEarly[slot] = 0;
  }

  /** The context of the task now running in `slot`. */
  context(slot: number): TaskContext {
    return new Context(this, slot, this.#gen[slot]);
  }

  #runs(slot: number, gen: number): boolean {
    return this.#live[slot] === 1 && this.#gen[slot] === gen;
  }

  /** The signal of task (slot, gen); a context kept past its task's end gets a signal of its own that never aborts. */
  signalOf(slot: number, gen: number): AbortSignal {
    if (!this.#runs(slot, gen)) return new AbortController().signal;
    let c = this.#controllers.get(slot);
    if (!c) {
      c = new AbortController();
      this.#controllers.set(slot, c);
      if (this.#abortedEarly[slot] === 1) c.abort(this.#reason(slot));
    }
    return c.signal;
  }

  /** Whether task (slot, gen) was asked to abort; makes no AbortController. */
  aborted(slot: number, gen: number): boolean {
    if (!this.#runs(slot, gen)) return false;
    const c = this.#controllers.get(slot);
    return c ? c.signal.aborted : this.#abortedEarly[slot] === 1;
  }

  /**
   * The main thread asked to abort task (slot, gen), because it ran past `timedOut` ms if that is
   * given: ignored unless that task runs here now.
   */
  abort(slot: number, gen: number, timedOut?: number): void {
    if (!this.#runs(slot, gen)) return;
    if (this.#abortedLive[slot] === 0) {
      this.#abortedLive[slot] = 1;
      this.detached++;
    }
    this.#timedOut[slot] = timedOut ?? 0;
    const c = this.#controllers.get(slot);
    if (c) c.abort(this.#reason(slot));
    else this.#abortedEarly[slot] = 1;
  }

  /** `ctx.signal.reason`: a TimeoutError for a task past its time limit, as the caller's rejection is. */
  #reason(slot: number): Error {
    const ms = this.#timedOut[slot];
    return ms > 0 ? new TimeoutError(`task timed out after ${ms} ms`) : new AbortError('the task was aborted');
  }

  /** Task (slot, gen) made progress (see {@link taskProgress}): ignored unless that task runs here now. */
  progress(slot: number, gen: number): void {
    if (this.#runs(slot, gen)) this.onProgress(slot);
  }

  /** The task in `slot` ended: forget its abort state, note included. */
  release(slot: number): void {
    this.#live[slot] = 0;
    this.#abortedEarly[slot] = 0;
    this.#timedOut[slot] = 0;
    this.#controllers.delete(slot);
    if (this.#abortedLive[slot] === 1) {
      this.#abortedLive[slot] = 0;
      this.detached--;
    }
  }
}

class Context implements TaskContext {
  constructor(
    readonly controls: TaskControls,
    readonly slot: number,
    readonly gen: number,
  ) {}
  get workerId(): number {
    return this.controls.workerId;
  }
  get signal(): AbortSignal {
    return this.controls.signalOf(this.slot, this.gen);
  }
}

/**
 * `ctx.signal.aborted`, without making the task's AbortController (see the header); for a context
 * that is not a pool task's (a builtin called directly), the signal's own state.
 */
export function taskAborted(ctx: TaskContext): boolean {
  return ctx instanceof Context ? ctx.controls.aborted(ctx.slot, ctx.gen) : ctx.signal.aborted;
}

/**
 * Tells the pool that the task of `ctx` is making progress, so a task that runs long by design (a
 * parallel call's participant, chunk after chunk) is not taken for stuck by `getHealthStatus()` and
 * `restartUnhealthyWorkers()` (`unhealthyAfter` counts from its last progress). Its run time and
 * its timeout still count from its start. A context that is not a pool task's: nothing to tell.
 */
export function taskProgress(ctx: TaskContext): void {
  if (ctx instanceof Context) ctx.controls.progress(ctx.slot, ctx.gen);
}
