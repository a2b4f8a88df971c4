/** Errors of the flow layer. */
import { SkeinError } from '../memory/errors.js';

/**
 * A data-parallel call (`parallelFor`, `parallelMap`, `parallelReduce`) failed: its function threw
 * on a chunk, or a worker running it died. `cause` holds what happened (the function's own error,
 * with its class, or a WorkerCrashedError); `chunk` is the index range that failed, when known. The
 * other chunks stop at their next boundary and the pool stays usable.
 */
export class ParallelError extends SkeinError {
  constructor(
    message: string,
    readonly chunk: { start: number; end: number } | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
