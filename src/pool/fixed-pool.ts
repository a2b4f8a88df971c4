import { InvalidArgumentError } from '../memory/errors.js';
import type { WorkerPoolOptions } from './main/index.js';
import type { UntypedModule } from './task-types.js';
import { WorkerPool } from './worker-pool.js';

/**
 * A pool of exactly `n` workers, started at once and replaced if they die. `M`, the task module's
 * type, types `submit` and the rest (see {@link WorkerPool}).
 *
 * @example
 * ```ts
 * const pool = new FixedWorkerPool<typeof import('./task.js')>(4, {
 *   filename: new URL('./task.js', import.meta.url),
 * });
 * ```
 */
export class FixedWorkerPool<M = UntypedModule> extends WorkerPool<M> {
  constructor(n: number, options: Omit<WorkerPoolOptions, 'minWorkers' | 'maxWorkers'>) {
    if (!Number.isInteger(n) || n < 1)
      throw new InvalidArgumentError(`FixedWorkerPool needs n >= 1 workers, got ${String(n)}`);
    super({ ...options, minWorkers: n, maxWorkers: n }, false);
  }
}
