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

/**
 * A self-contained function (`pool.exec`, or a function given to `parallelFor`) read a variable
 * that does not exist in the worker: most often one it closed over where it was written. Such a
 * function travels as source text and runs in another thread, so it sees only its arguments and
 * the worker's globals. `variable` names what it reached for.
 */
export class ClosureVariableError extends SkeinError {
  constructor(
    message: string,
    readonly variable: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
