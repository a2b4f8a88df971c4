import { SkeinError } from '../memory/errors.js';

/** A worker exited or died while running the task; names the worker and its exit code. */
export class WorkerCrashedError extends SkeinError {
  constructor(
    message: string,
    readonly workerId: number,
    readonly exitCode: number | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The pool's `maxQueue` is full: the task was refused. `await pool.drain()` waits for room. */
export class QueueFullError extends SkeinError {}

/** The pool is closed (or was force-closed while the task waited). */
export class PoolClosedError extends SkeinError {}

/** The task module has no such export, or the export is not a function. */
export class TaskFunctionNotFoundError extends SkeinError {}

/** The task module could not be found or loaded in a worker. */
export class WorkerModuleError extends SkeinError {}
