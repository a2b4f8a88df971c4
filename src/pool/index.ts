export * from './dynamic-pool.js';
export { registerErrorClass } from './shared/index.js';
export * from './errors.js';
export * from './fixed-pool.js';
export type { HealthStatus, PoolMetrics, SubmitOptions, WorkerPoolOptions } from './main/index.js';
export type { TaskContext } from './worker/index.js';
export * from './worker-pool.js';
