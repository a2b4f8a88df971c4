/**
 * skein: parallel compute on Node.js worker threads.
 * Layers, bottom to top: memory, sync, pool, resilience, flow, observe (see DESIGN.md).
 *
 * This file is the public contract: DESIGN.md's names and their option, result and error types,
 * listed one by one. Internals that tests and bench need live behind `skein/internal`
 * (src/internal.ts); test/public-surface.test.ts keeps this list and DESIGN.md in step.
 */

// errors shared by every layer
export {
  AbortError,
  CorruptMemoryError,
  InvalidArgumentError,
  SerializationError,
  SkeinError,
  TimeoutError,
} from './memory/index.js';
export type { HistogramSummary, SharedHandle, SharedObject, WaitOptions } from './memory/index.js';

// sync
export {
  Barrier,
  Once,
  RwLock,
  Channel,
  ChannelClosedError,
  ChannelStreamCutError,
  Mutex,
  MutexUnlockError,
  defaultCase,
  recv,
  select,
  selectSync,
  Semaphore,
  SemaphoreReleaseError,
  send,
  WaitGroup,
  WaitGroupNegativeError,
} from './sync/index.js';
export type { BarrierResult } from './sync/index.js';
export type {
  ChannelOptions,
  DefaultCase,
  Guard,
  RecvCase,
  RecvResult,
  SelectCase,
  SelectResult,
  SendCase,
} from './sync/index.js';

// pool
export {
  DynamicWorkerPool,
  FixedWorkerPool,
  ClosureVariableError,
  PoolClosedError,
  QueueFullError,
  registerErrorClass,
  TaskFunctionNotFoundError,
  UncloneableTaskError,
  WorkerBootError,
  isWorkerThread,
  WorkerCrashedError,
  WorkerModuleError,
  WorkerOutOfMemoryError,
  WorkerPool,
  WorkerSetupError,
} from './pool/index.js';
export type {
  HealthStatus,
  PoolMetrics,
  PoolProxy,
  ProxyMethod,
  SetupContext,
  SubmitOptions,
  TaskContext,
  WorkerPoolOptions,
} from './pool/index.js';

// resilience
export {
  BrokenCircuitError,
  Bulkhead,
  BulkheadRejectedError,
  CircuitBreaker,
  compose,
  ConcurrencyManager,
  ConcurrencyPermit,
  ConcurrencyQueueFullError,
  LeakyBucket,
  LeakyBucketFullError,
  RetryPolicy,
  SlidingWindowLimiter,
  Timeout,
  TokenBucket,
} from './resilience/index.js';
export type {
  BackoffFn,
  BackoffKind,
  BackoffOptions,
  BreakerFunctions,
  BreakerWindow,
  BulkheadOptions,
  BulkheadRejectEvent,
  CircuitBreakerMetrics,
  CircuitBreakerOptions,
  CircuitState,
  ComposedContext,
  ComposedPolicy,
  ConcurrencyAcquireOptions,
  ConcurrencyManagerEvents,
  ConcurrencyManagerMetrics,
  ConcurrencyManagerOptions,
  ExecuteOptions,
  FailureVerdict,
  GiveUpEvent,
  LeakyBucketOptions,
  Policy,
  PolicyContext,
  RetryContext,
  RetryEvent,
  RetryOptions,
  SlidingWindowLimiterOptions,
  StateChangeEvent,
  Subscription,
  TimeoutEvent,
  TimeoutSignal,
  TokenBucketOptions,
} from './resilience/index.js';

// flow
export {
  FanPattern,
  fanIn,
  fanOut,
  ParallelError,
  parallelFor,
  parallelMap,
  parallelReduce,
  Pipeline,
  StageFailedError,
  UnhandledDeadLettersError,
} from './flow/index.js';
export type {
  DeadLetter,
  FanFunction,
  FanInCandidate,
  FanInOptions,
  FanInStrategy,
  FanOutContext,
  FanOutOptions,
  FanPatternOptions,
  IndexRange,
  ParallelMapOptions,
  ParallelOptions,
  ParallelReduceOptions,
  PipelineMetrics,
  PipelineOptions,
  PoolStage,
  RunStage,
  StageLimiter,
  StageMetrics,
  StageOptions,
  StageRunContext,
  TypedArray,
} from './flow/index.js';

// observe
export { MissingPeerDependencyError, PatternRegistry, serveMetrics } from './observe/index.js';
export type {
  HealthReport,
  MetricsServer,
  ProtectiveEvent,
  ProtectiveOptions,
  RegisteredKind,
  Registrable,
  RegisterOptions,
  ServeMetricsOptions,
  ShutdownReport,
} from './observe/index.js';

import { setWorkerPreload } from './pool/main/index.js';

// Pool workers import worker-preload.ts first, so every shared kind and builtin task is registered
// there and shared objects in task inputs arrive as live objects. (Spelled as a URL beside this
// file, so the bundler can rebase it when this code lands in a shared chunk.)
setWorkerPreload(new URL('./worker-preload.js', import.meta.url).href);
