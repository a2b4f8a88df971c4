/**
 * Errors of the `skein` command. Each carries the exit code the command ends with.
 */
/** How `skein` ends: the code says whether every item succeeded, and if not, why not. */
export const ExitCode = {
  /** Every line was read and every item succeeded. */
  Ok: 0,
  /** Every line was read; some were malformed or failed (they are in the errors file). */
  ItemsFailed: 1,
  /** A bad option, or a task module or function that cannot be found. Nothing ran. */
  Usage: 2,
  /** `--fail-fast` stopped the batch at the first failure; the rest of the input was not read. */
  FailFast: 3,
  /** The command itself failed (a file could not be read or written, the pool broke). */
  Fatal: 4,
  /**
   * The output's reader went away (`skein run ... | head`: EPIPE). 128 + 13, the status a shell
   * reports for a Unix tool that SIGPIPE ended (`cat big | head`): the run stopped quietly and not
   * every line was done, so not 0 (which says every item succeeded); a pipeline's status is its last
   * command's unless `set -o pipefail`, which then sees the stop as it does cat's. `--resume`
   * continues where a job log was kept.
   */
  OutputClosed: 141,
  /** Stopped by SIGINT (128 + 2): in-flight items were finished; `--resume` continues. */
  Interrupted: 130,
  /** Stopped by SIGTERM (128 + 15): as for SIGINT. */
  Terminated: 143,
} as const;

/** Bad command-line input: an option out of range, a missing file, module or function. */
export class UsageError extends Error {
  readonly exitCode: number = ExitCode.Usage;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UsageError';
  }
}

/**
 * `--workers` over the command's limit ({@link TooManyWorkersError.limit}, main.ts says which):
 * refused before the task module is loaded or a thread starts. (A typo's 200 started 200 threads;
 * past a pool's most, 256, the pool refused it with a stack trace, exit 4.)
 */
export class TooManyWorkersError extends UsageError {
  constructor(
    readonly requested: number,
    readonly limit: number,
    why: string,
  ) {
    super(`--workers ${requested} is more than the limit of ${limit} worker threads (${why})`);
    this.name = 'TooManyWorkersError';
  }
}
