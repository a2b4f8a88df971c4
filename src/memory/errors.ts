/**
 * Errors of the memory layer. Every skein error extends {@link SkeinError}, so `err instanceof
 * SkeinError` tells a skein failure from one thrown by user code, and each carries a stable `name`
 * that survives a trip across threads.
 */
export class SkeinError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Turns `err`'s captured stack trace into its string now. Until `stack` is first read, V8 keeps the
 * trace as it captured it: for every frame, its receiver and its function (with the closure's
 * variables). Abort and timeout errors are made deep inside skein, in frames whose receivers and
 * closures hold a pool's core, a waiter's state, a pipeline run; a caller who kept such an error (a
 * log, a list of failures) kept all of that alive, a closed pool's shared memory included. Once
 * formatted, the error holds its message, name, cause, stack string and own fields, nothing else.
 * Costs ~1.5 µs per error on Node 20.
 */
function formatStackNow(err: Error): void {
  void err.stack;
}

/** A wait ran past its `timeout` (milliseconds). */
export class TimeoutError extends SkeinError {
  constructor(message = 'the operation timed out', options?: { cause?: unknown }) {
    super(message, options);
    formatStackNow(this);
  }
}

/** A wait was stopped by its `AbortSignal`; `cause` holds the signal's reason. */
export class AbortError extends SkeinError {
  constructor(message = 'the operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    formatStackNow(this);
  }
}

/** An option or argument is out of range or of the wrong type (negative capacity, priority 11, ...). */
export class InvalidArgumentError extends SkeinError {}

/**
 * A value cannot be copied to another thread as it is: a function, a symbol, native state, or a
 * class instance (structured clone would drop its prototype, methods and private fields, so skein
 * refuses it rather than deliver a stripped copy; send plain data). The message names where the
 * problem sits (`task input.items[2]`, `task result.value`) and `path` holds that spot.
 */
export class SerializationError extends SkeinError {
  /** Where in the value the problem sits (`.items[2].fn`; `''` for the value itself), when known. */
  readonly path?: string;
  constructor(message: string, options?: { cause?: unknown; path?: string }) {
    super(message, options);
    if (options?.path !== undefined) this.path = options.path;
  }
}

/** Shared memory holds something no writer could have written (a length past the buffer, an unknown tag). */
export class CorruptMemoryError extends SkeinError {}
