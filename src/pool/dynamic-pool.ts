import type { WorkerPoolOptions } from './main/index.js';
import type { UntypedModule } from './task-types.js';
import { WorkerPool } from './worker-pool.js';

/**
 * A pool that grows to `maxWorkers` while tasks wait and shrinks to `minWorkers` (default 0)
 * after `idleTimeout` ms of idleness. `M`, the task module's type, types `submit` and the rest
 * (see {@link WorkerPool}).
 *
 * @example
 * ```ts
 * const pool = new DynamicWorkerPool<typeof import('./task.js')>({
 *   filename: new URL('./task.js', import.meta.url),
 *   maxWorkers: 8,
 *   idleTimeout: 5000,
 * });
 * ```
 */
export class DynamicWorkerPool<M = UntypedModule> extends WorkerPool<M> {
  constructor(options: WorkerPoolOptions) {
    super(options, true);
  }
}
