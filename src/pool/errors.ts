import { registerErrorClasses } from '../memory/error-codec.js';
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

/**
 * A worker ran out of memory under the pool's `resourceLimits` while running the task; only the
 * tasks it was running fail (tasks it had claimed but not started run elsewhere), and it is replaced.
 */
export class WorkerOutOfMemoryError extends WorkerCrashedError {}

/**
 * The task module's `setup(ctx)` threw (or rejected) in a worker, or returned a promise that can
 * never settle (pending with nothing left in the worker's event loop), or had not settled within
 * `bootTimeout` (then `cause` is a TimeoutError). The pool does not start workers again for it:
 * every task fails with this error (`cause` holds setup's own error, if any).
 */
export class WorkerSetupError extends SkeinError {}

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

/**
 * A task threw an error that cannot cross to the main thread whole: an own getter that throws, a
 * field that cannot be cloned, a `stack` or `message` getter that throws, a Proxy, an
 * AggregateError holding a value that cannot be cloned. The task rejects with this error in its
 * place; its worker and that worker's other tasks are untouched. It keeps what could be kept: the
 * message and the worker's stack, the own fields, `cause` and `errors` that can be cloned; it names
 * the original class in `originalName` and what was dropped in `lost`.
 *
 * @example
 * ```ts
 * try {
 *   await pool.submit(input);
 * } catch (err) {
 *   if (err instanceof UncloneableTaskError) console.error(err.originalName, err.message, err.lost);
 * }
 * ```
 */
export class UncloneableTaskError extends SkeinError {
  constructor(
    message: string,
    /** The class name of the error the task threw (`'Proxy'` for a thrown Proxy). */
    readonly originalName: string,
    /** What could not be copied, one phrase each (`"field 'socket' (not cloneable)"`). */
    readonly lost: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The pool's workers cannot start: they died before their task module finished loading several
 * times in a row (the module calls `process.exit` or crashes the thread while it loads, or
 * `resourceLimits` are too small for a thread to start), or one did not finish loading within
 * `bootTimeout` ms (a top-level await that never settles; then `cause` is a TimeoutError; a module
 * that loaded but whose `setup()` outlasts it fails with WorkerSetupError instead). Pending
 * and new tasks reject with it, and the pool starts no more workers; `close()` still returns.
 * `cause` is the last worker's error where it had one; `exitCode` its exit code (null on timeout).
 *
 * @example
 * ```ts
 * const err = await pool.submit(1).catch((e) => e);
 * if (err instanceof WorkerBootError) console.error('task module cannot start:', err.exitCode, err.cause);
 * ```
 */
export class WorkerBootError extends SkeinError {
  constructor(
    message: string,
    readonly exitCode: number | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

// This layer's errors cross threads as their own classes (`instanceof` holds on the receiving side).
registerErrorClasses({ WorkerCrashedError, WorkerOutOfMemoryError, WorkerSetupError, QueueFullError, PoolClosedError, TaskFunctionNotFoundError, WorkerModuleError, ClosureVariableError, UncloneableTaskError, WorkerBootError });
