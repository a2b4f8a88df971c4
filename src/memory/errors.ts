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

/** A wait ran past its `timeout` (milliseconds). */
export class TimeoutError extends SkeinError {
  constructor(message = 'the operation timed out', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A wait was stopped by its `AbortSignal`; `cause` holds the signal's reason. */
export class AbortError extends SkeinError {
  constructor(message = 'the operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** An option or argument is out of range or of the wrong type (negative capacity, priority 11, ...). */
export class InvalidArgumentError extends SkeinError {}

/** A value cannot be copied to another thread (a function, a symbol, a class with native state, ...). */
export class SerializationError extends SkeinError {}

/** Shared memory holds something no writer could have written (a length past the buffer, an unknown tag). */
export class CorruptMemoryError extends SkeinError {}
