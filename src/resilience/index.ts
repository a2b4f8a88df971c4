export type { BackoffFn, BackoffKind, BackoffOptions } from './backoff.js';
export * from './bulkhead.js';
export * from './circuit-breaker.js';
export type {
  BreakerConfig,
  BreakerWindow,
  CircuitBreakerOptions,
  CircuitState,
  FailureVerdict,
} from './circuit-breaker-options.js';
export type { BreakerSnapshot, Transition } from './circuit-breaker-state.js';
export * from './compose.js';
export * from './concurrency-manager.js';
export * from './errors.js';
export * from './leaky-bucket.js';
export type { ExecuteOptions, Policy, PolicyContext } from './policy.js';
export * from './retry.js';
export * from './sliding-window-limiter.js';
export * from './timeout.js';
export * from './token-bucket.js';
export type { PolicyEvent, Subscription } from './events.js';
export type { BulkheadRejectEvent } from './bulkhead.js';
export type { GiveUpEvent, RetryEvent } from './retry.js';
export type { TimeoutEvent, TimeoutSignal } from './timeout.js';
