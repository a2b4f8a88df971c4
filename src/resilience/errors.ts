import { registerErrorClasses } from '../memory/error-codec.js';
import { SkeinError } from '../memory/errors.js';

/** A call was refused because the circuit breaker is open (or forced open). */
export class BrokenCircuitError extends SkeinError {}

/** A bulkhead is full: all `maxConcurrent` slots are busy and its `maxQueue` is full (or `maxWait` passed). */
export class BulkheadRejectedError extends SkeinError {}

/** A concurrency manager's `queueLimit` is reached: the acquire is refused at once. */
export class ConcurrencyQueueFullError extends SkeinError {}

/** A leaky bucket already holds `capacity` waiting calls: the acquire overflows and is refused at once. */
export class LeakyBucketFullError extends SkeinError {}

// This layer's errors cross threads as their own classes (`instanceof` holds on the receiving side).
registerErrorClasses({ BrokenCircuitError, BulkheadRejectedError, ConcurrencyQueueFullError, LeakyBucketFullError });
