/**
 * The worker side of a pool: the thread's entry module (boot, the claim loop, task contexts). The
 * main side starts a worker at {@link WORKER_MAIN_URL}; nothing else here is imported by it.
 */
export type { TaskContext } from './worker-main-types.js';

/** The module a pool worker thread runs. */
export const WORKER_MAIN_URL = new URL('./worker-main.js', import.meta.url);
export { BUILTIN_PREFIX, registerBuiltinTask, taskFunction } from './builtin-tasks.js';
export { isWorkerThread } from './is-worker-thread.js';
export { taskAborted, taskProgress } from './worker-context.js';
export type { SetupContext } from './life-cycle-hooks.js';
