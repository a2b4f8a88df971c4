/**
 * Worker side of recycling (`maxTasksPerWorker`, `maxMemoryPerWorker`): counts the tasks this worker
 * started, and after a task past either limit claims nothing more from the rings and tells the main
 * thread (`'recycle'`). The main thread, which may have posted tasks to it meanwhile (a transfer
 * list), stops doing so and then sets its RETIRE word; the worker leaves once those ran too
 * (worker-main.ts). Setting RETIRE itself, it left with tasks posted after its last look at its
 * mail unread, and they failed with WorkerCrashedError.
 * Internal to the pool (not exported from the package root).
 */
import { getHeapStatistics } from 'node:v8';
import type { MessagePort } from 'node:worker_threads';

const MiB = 1024 * 1024;

export class Recycling {
  #started = 0;
  #asked = false;
  /** Whether any limit is set (otherwise nothing is checked per task). */
  readonly active: boolean;

  constructor(
    private readonly maxTasks: number,
    private readonly maxMemoryMiB: number,
    private readonly port: MessagePort,
  ) {
    this.active = maxTasks < Infinity || maxMemoryMiB < Infinity;
  }

  /** A task starts. */
  started(): void {
    this.#started++;
  }

  /** How many more tasks this worker may claim (so a claimed batch never passes the limit; 0 once past one). */
  room(): number {
    return this.#asked ? 0 : this.maxTasks - this.#started;
  }

  /** After a task ended: past a limit, ask to be replaced (once). */
  afterTask(): void {
    if (this.#asked) return;
    const full = this.#started >= this.maxTasks;
    if (!full && !(this.maxMemoryMiB < Infinity && getHeapStatistics().used_heap_size / MiB > this.maxMemoryMiB)) {
      return;
    }
    this.#asked = true;
    this.port.postMessage({ type: 'recycle' });
  }
}
