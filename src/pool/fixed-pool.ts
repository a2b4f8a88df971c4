import { InvalidArgumentError } from '../memory/errors.js';
import type { WorkerPoolOptions } from './main/index.js';
import { WorkerPool } from './worker-pool.js';

/**
 * A pool of exactly `n` workers, started at once and replaced if they die.
 *
 * @example
 * ```ts
 * const pool = new FixedWorkerPool(4, { filename: './task.js' });
 * ```
 */
export class FixedWorkerPool extends WorkerPool {
  constructor(n: number, options: Omit<WorkerPoolOptions, 'minWorkers' | 'maxWorkers'>) {
    if (!Number.isInteger(n) || n < 1)
      throw new InvalidArgumentError(`FixedWorkerPool needs n >= 1 workers, got ${String(n)}`);
    super({ ...options, minWorkers: n, maxWorkers: n }, false);
  }
}
