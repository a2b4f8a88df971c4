import { InvalidArgumentError } from '../memory/errors.js';
import { checkPoolKeys, POOL_OPTION_KEYS, type WorkerPoolOptions } from './main/index.js';
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
    // Its size is `n`: a minWorkers or maxWorkers among its options was overridden without a word.
    if (typeof options === 'object' && options !== null) checkPoolKeys(options, 'FixedWorkerPool options', FIXED_KEYS);
    super({ ...options, minWorkers: n, maxWorkers: n }, false);
  }
}

const FIXED_KEYS = POOL_OPTION_KEYS.filter((k) => k !== 'minWorkers' && k !== 'maxWorkers');
