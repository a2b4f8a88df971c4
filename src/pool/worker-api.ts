/**
 * The pool's second face, for code of the layers above that runs inside pool workers (their
 * builtin tasks: pipeline chains, data-parallel participants). It holds nothing of the main-thread
 * pool, so a worker that loads those builtins (src/worker-preload.ts) does not load the pool that
 * manages it: less code to load and keep in every worker. Main-thread code uses src/pool/index.ts.
 */
export { closureError, compileFunction, errorToRecord } from './shared/index.js';
export { registerBuiltinTask, taskAborted, taskFunction, taskProgress } from './worker/index.js';
export type { TaskContext } from './worker/index.js';
// How a pool loads a task module and finds its functions, for the command (src/cli), which loads
// task modules as a pool does, on the main thread (to check them) and in its workers.
export { findTaskFunction, loadTaskModule } from './worker/task-module.js';
export { lifeCycleHook } from './worker/life-cycle-hooks.js';
export type { TaskFunction, TaskModule } from './worker/task-module.js';
