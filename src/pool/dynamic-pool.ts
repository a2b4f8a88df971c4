import type { WorkerPoolOptions } from './main/index.js';
import { WorkerPool } from './worker-pool.js';

/**
 * A pool that grows to `maxWorkers` while tasks wait and shrinks to `minWorkers` (default 0)
 * after `idleTimeout` ms of idleness.
 *
 * @example
 * ```ts
 * const pool = new DynamicWorkerPool({ filename: './task.js', maxWorkers: 8, idleTimeout: 5000 });
 * ```
 */
export class DynamicWorkerPool extends WorkerPool {
  constructor(options: WorkerPoolOptions) {
    super(options, true);
  }
}
