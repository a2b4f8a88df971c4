/**
 * Worker side: the `ctx` a task function receives, and the abort state behind `ctx.signal`.
 *
 * An AbortController is made only when a task reads `ctx.signal` (most never do). An abort that
 * arrives for a running task before it read its signal is remembered, and the signal is born aborted.
 * Internal to the pool (not exported from the package root).
 */
import { AbortError } from '../../memory/errors.js';
import type { TaskContext } from './worker-main-types.js';

export class TaskControls {
  readonly #controllers = new Map<number, AbortController>();
  readonly #abortedEarly = new Set<number>();

  constructor(readonly workerId: number) {}

  /** The context of the task in `slot`. */
  context(slot: number): TaskContext {
    return new Context(this, slot);
  }

  signalOf(slot: number): AbortSignal {
    let c = this.#controllers.get(slot);
    if (!c) {
      c = new AbortController();
      this.#controllers.set(slot, c);
      if (this.#abortedEarly.delete(slot)) c.abort(new AbortError('the task was aborted'));
    }
    return c.signal;
  }

  /** The main thread asked to abort the task in `slot`; `running` says whether it is still running. */
  abort(slot: number, running: boolean): void {
    const c = this.#controllers.get(slot);
    if (c) c.abort(new AbortError('the task was aborted'));
    else if (running) this.#abortedEarly.add(slot);
  }

  /** The task in `slot` ended: forget its abort state. */
  release(slot: number): void {
    this.#controllers.delete(slot);
    this.#abortedEarly.delete(slot);
  }
}

class Context implements TaskContext {
  constructor(
    readonly controls: TaskControls,
    readonly slot: number,
  ) {}
  get workerId(): number {
    return this.controls.workerId;
  }
  get signal(): AbortSignal {
    return this.controls.signalOf(this.slot);
  }
}
