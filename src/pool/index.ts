export * from './dynamic-pool.js';
export { registerErrorClass } from './error-codec.js';
export * from './errors.js';
export * from './fixed-pool.js';
export type { HealthStatus, PoolMetrics } from './pool-metrics.js';
export type { SubmitOptions, WorkerPoolOptions } from './pool-options.js';
export type { TaskContext } from './worker-main-types.js';
export * from './worker-pool.js';
