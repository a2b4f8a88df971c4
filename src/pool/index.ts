export * from './dynamic-pool.js';
export { registerErrorClass } from './shared/index.js';
export * from './errors.js';
export * from './fixed-pool.js';
export type { HealthStatus, PoolMetrics, SubmitOptions, WorkerPoolOptions } from './main/index.js';
export { isWorkerThread } from './worker/index.js';
export type { SetupContext, TaskContext } from './worker/index.js';
export type { PoolProxy, ProxyMethod } from './proxy.js';
export type { DefaultName, ModuleOf, SubmitName, SubmitResult, UntypedModule } from './task-types.js';
export * from './worker-pool.js';

// For the layers above (src/flow): what they build on besides the pool itself. They import the
// pool only through this face (test/pool/structure.test.ts).
export { closureError, compileFunction, errorToRecord, functionSource, MAX_WORKER_INDEX, recordToError } from './shared/index.js';
export type { ErrorRecord } from './shared/index.js';
export { registerBuiltinTask, taskFunction } from './worker/index.js';
