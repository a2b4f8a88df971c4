import { registerErrorClasses } from '../memory/error-codec.js';
import { SkeinError } from '../memory/errors.js';

/** A send on a closed channel, or a second `close()`. */
export class ChannelClosedError extends SkeinError {}

/**
 * A stream (a message larger than the ring) was cut while its sender stood still for over
 * STREAM_STALL_MS: another thread took it for dead. The message was not delivered.
 */
export class ChannelStreamCutError extends SkeinError {}

/** `release(n)` would raise a semaphore above the permits it was made with. */
export class SemaphoreReleaseError extends SkeinError {}

/** `unlock()` of a mutex that is not locked. */
export class MutexUnlockError extends SkeinError {}

/** `done()` or `add(-n)` would take a wait group's count below zero. */
export class WaitGroupNegativeError extends SkeinError {}

// This layer's errors cross threads as their own classes (`instanceof` holds on the receiving side).
registerErrorClasses({ ChannelClosedError, ChannelStreamCutError, SemaphoreReleaseError, MutexUnlockError, WaitGroupNegativeError });
