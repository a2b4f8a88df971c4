/**
 * The main-thread side of a pool: task intake and queue, dispatch onto the rings, settlement of
 * results, worker lifecycle, the sweeper, batches, options and metrics. `WorkerPool` is built on it.
 */
export { cancelTasksOf } from './abort-watch.js';
export { BatchCollector, mapThroughPool } from './batch.js';
export type { HealthStatus, PoolMetrics } from './metrics.js';
export { checkPoolKeys, checkSubmitKeys, MAP_KEYS, POOL_OPTION_KEYS, resolveOptions, type SubmitOptions, type WorkerPoolOptions } from './options.js';
export { PoolCore } from './pool-core.js';
export { isStuck } from './sweep.js';
export { intake, queueFull } from './task-intake.js';
export type { WorkerEntry } from './worker-entry.js';
export { setWorkerPreload } from './worker-lifecycle.js';
