/** Errors of the flow layer. */
import { registerErrorClasses } from '../memory/error-codec.js';
import { SkeinError } from '../memory/errors.js';

/**
 * A data-parallel call (`parallelFor`, `parallelMap`, `parallelReduce`) failed: its function threw
 * on a chunk, or a worker running it died. `cause` holds what happened (the function's own error,
 * with its class, or a WorkerCrashedError); `chunk` is the index range that failed, when known. The
 * other chunks stop at their next boundary and the pool stays usable. A call the pool refuses (a
 * closed or broken pool, a full queue, an `arg` that cannot be copied) rejects with the pool's own
 * error instead (PoolClosedError, QueueFullError, SerializationError, ...), never wrapped in this.
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

/** An input that failed a stage for good: what `deadLetters` yields and `onDeadLetter` receives. */
export interface DeadLetter<I = unknown> {
  /** The input as it entered the pipeline. */
  readonly input: I;
  /** The name of the stage (or filter) it failed. */
  readonly stage: string;
  /**
   * What that stage's last try threw (TimeoutError, BrokenCircuitError, WorkerCrashedError, ...), as
   * thrown: a string or a plain object stays one. A value that cannot be copied out of a worker (a
   * function, say) arrives as the Error `pool.submit` gives for it (`task threw a non-Error value: ...`).
   * When the stage's RetryPolicy gave up because its `retryIf` or backoff function threw, it is what
   * that threw, as the policy rethrows it (the try's error as its `cause`; see `RetryPolicy`).
   */
  readonly error: unknown;
  /** Tries of that stage, the first included. */
  readonly attempts: number;
}

/**
 * An input failed a stage: thrown by `process(x)` for its input, and by a pipeline run with
 * `deadLetter: false` (which then stops). Carries the dead letter's fields; `cause` is the error.
 */
export class StageFailedError<I = unknown> extends SkeinError implements DeadLetter<I> {
  readonly input: I;
  readonly stage: string;
  readonly error: unknown;
  readonly attempts: number;
  constructor(letter: DeadLetter<I>) {
    const why = letter.error instanceof Error ? letter.error.message : String(letter.error);
    super(`stage '${letter.stage}' failed after ${letter.attempts} attempt(s): ${why}`, { cause: letter.error });
    this.input = letter.input;
    this.stage = letter.stage;
    this.error = letter.error;
    this.attempts = letter.attempts;
  }
}

/**
 * A run ended with dead letters that nobody received (no `onDeadLetter`, `deadLetters` never read):
 * the output iteration throws this after the last output, so a failure is never lost silently. It
 * keeps the count and the first dead letter only, so unread failures hold no memory.
 */
export class UnhandledDeadLettersError extends SkeinError {
  constructor(
    readonly count: number,
    readonly first: DeadLetter,
  ) {
    super(
      `${count} input(s) failed and were not received: pass onDeadLetter or read pipeline.deadLetters ` +
        `(first: stage '${first.stage}': ${first.error instanceof Error ? first.error.message : String(first.error)})`,
      { cause: first.error },
    );
  }
}

/**
 * A stage of a chain task (fused pipeline stages, see pipeline/chain.ts) failed: `stage` is its
 * index, `value` (when it could be copied) the input that stage was given, `cause` what it threw.
 * Internal: it never reaches a user.
 */
export class ChainStageError extends SkeinError {
  readonly stage: number;
  readonly value: unknown;
  constructor(message: string, stage: number, value: unknown, options?: { cause?: unknown }) {
    super(message, options);
    this.stage = stage;
    this.value = value;
  }
}

/** A worker was given a chain task for a chain it has not seen: resend the task with its spec. Internal. */
export class ChainSpecMissingError extends SkeinError {}

/** The main thread gave a chain task up (timed out, aborted) while a worker still ran it. Internal. */
export class ChainAbandonedError extends SkeinError {}

// This layer's errors cross threads as their own classes (`instanceof` holds on the receiving side).
registerErrorClasses({ ParallelError, StageFailedError, UnhandledDeadLettersError, ChainStageError, ChainSpecMissingError, ChainAbandonedError });
