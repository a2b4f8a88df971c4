// The package root is the contract in DESIGN.md: these names and their types, nothing else.
// Adding a public name means adding it here (and to DESIGN.md's list if it is new there).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as root from 'skein';
import * as internal from 'skein/internal';
import { describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('..', import.meta.url));

/** Values the root exports: DESIGN.md's names (built so far) and the named errors of every layer. */
const VALUES = [
  // sync
  'Channel', 'Mutex', 'Semaphore', 'WaitGroup', 'RwLock', 'Barrier', 'Once', 'select', 'selectSync', 'recv', 'send', 'defaultCase',
  // pool
  'WorkerPool', 'FixedWorkerPool', 'DynamicWorkerPool', 'registerErrorClass', 'isWorkerThread',
  // resilience
  'CircuitBreaker', 'RetryPolicy', 'Bulkhead', 'Timeout', 'TokenBucket', 'LeakyBucket',
  'SlidingWindowLimiter', 'ConcurrencyManager', 'ConcurrencyPermit', 'compose',
  // flow
  'parallelFor', 'parallelMap', 'parallelReduce',
  'Pipeline', 'fanOut', 'fanIn', 'FanPattern',
  // observe
  'serveMetrics', 'PatternRegistry',
  // errors
  'SkeinError', 'TimeoutError', 'AbortError', 'InvalidArgumentError', 'SerializationError',
  'CorruptMemoryError', 'ChannelClosedError', 'ChannelStreamCutError', 'MutexUnlockError', 'SemaphoreReleaseError',
  'WaitGroupNegativeError', 'WorkerCrashedError', 'WorkerModuleError', 'TaskFunctionNotFoundError',
  'PoolClosedError', 'QueueFullError', 'UncloneableTaskError', 'WorkerBootError', 'BrokenCircuitError', 'BulkheadRejectedError',
  'ConcurrencyQueueFullError', 'LeakyBucketFullError', 'ClosureVariableError', 'ParallelError',
  'StageFailedError', 'UnhandledDeadLettersError',
  'MissingPeerDependencyError',
  'WorkerOutOfMemoryError', 'WorkerSetupError',
];

/** Types the root exports (option, result and event shapes of the values above). */
const TYPES = [
  'SharedHandle', 'SharedObject', 'WaitOptions', 'HistogramSummary',
  'ChannelOptions', 'DefaultCase', 'Guard', 'RecvCase', 'RecvResult', 'SelectCase', 'SelectResult', 'SendCase',
  'HealthStatus', 'PoolMetrics', 'SubmitOptions', 'TaskContext', 'WorkerPoolOptions',
  'BackoffFn', 'BackoffKind', 'BackoffOptions', 'BreakerFunctions', 'BreakerWindow', 'BulkheadOptions', 'CircuitBreakerMetrics',
  'CircuitBreakerOptions', 'CircuitState', 'ComposedContext', 'ComposedPolicy', 'ConcurrencyAcquireOptions',
  'ConcurrencyManagerEvents',
  'ConcurrencyManagerMetrics', 'ConcurrencyManagerOptions', 'ExecuteOptions',
  'FailureVerdict', 'LeakyBucketOptions', 'Policy', 'PolicyContext', 'RetryContext', 'RetryOptions',
  'SlidingWindowLimiterOptions', 'StateChangeEvent', 'TokenBucketOptions',
  'BulkheadRejectEvent', 'GiveUpEvent', 'RetryEvent', 'Subscription', 'TimeoutEvent', 'TimeoutSignal',
  'PoolProxy', 'ProxyMethod', 'SetupContext', 'BarrierResult',
  'IndexRange', 'ParallelMapOptions', 'ParallelOptions', 'ParallelReduceOptions', 'TypedArray',
  'DeadLetter', 'PipelineMetrics', 'PipelineOptions', 'PoolStage', 'RunStage', 'StageLimiter', 'StageMetrics',
  'StageOptions', 'StageRunContext', 'FanFunction', 'FanInCandidate', 'FanInOptions', 'FanInStrategy',
  'FanOutContext', 'FanOutOptions', 'FanPatternOptions',
  'HealthReport', 'MetricsServer', 'ServeMetricsOptions', 'ProtectiveEvent', 'ProtectiveOptions', 'RegisteredKind',
  'Registrable', 'RegisterOptions', 'ShutdownReport',
];

/** Every `.d.ts` under dist/src. */
function declarations(dir = join(repo, 'dist/src')): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return declarations(path);
    return name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The names `export type { ... }` blocks of the built root declare. */
function rootTypeNames(): string[] {
  const dts = readFileSync(join(repo, 'dist/src/index.d.ts'), 'utf8');
  return [...dts.matchAll(/export type \{([^}]*)\}/g)].flatMap((m) =>
    m[1].split(',').map((n) => n.trim()).filter(Boolean),
  );
}

describe('public surface', () => {
  it('the root exports exactly the contract values', () => {
    expect(Object.keys(root).sort()).toEqual([...VALUES].sort());
  });

  it('the root declares exactly the contract types', () => {
    expect(rootTypeNames().sort()).toEqual([...TYPES].sort());
  });

  it('every non-error value is a name of DESIGN.md (checked where the steering copy is beside the repo)', () => {
    const design = process.env.SKEIN_DESIGN ?? join(repo, '../shared/DESIGN.md');
    if (!existsSync(design)) return;
    const text = readFileSync(design, 'utf8');
    const missing = VALUES.filter((n) => !n.endsWith('Error') && !text.includes(n));
    // Additions to DESIGN's names, each serving one of its lines: select's *Sync form and default
    // case, the class of the permit `acquire` returns, the error-class registry that keeps
    // errors' classes across threads, and the isWorkerThread helper issue 13 asks for.
    expect(missing).toEqual(['selectSync', 'defaultCase', 'registerErrorClass', 'isWorkerThread', 'ConcurrencyPermit']);
  });

  it('internals stay behind skein/internal, which also carries the root', () => {
    expect('now' in root).toBe(false);
    expect(typeof (internal as Record<string, unknown>).now).toBe('function');
    for (const name of VALUES) expect(name in internal).toBe(true);
  });

  it('the published declarations hold no @internal name', () => {
    const files = declarations();
    expect(files.length).toBeGreaterThan(20);
    const tagged = files.filter((f) => readFileSync(f, 'utf8').includes('@internal'));
    expect(tagged).toEqual([]);
  });

  it('the WorkerPool constructor takes no public flag', () => {
    const dts = readFileSync(join(repo, 'dist/src/pool/worker-pool.d.ts'), 'utf8');
    expect(dts.match(/constructor\(([^)]*)\)/g)).toEqual(['constructor(options: WorkerPoolOptions)']);
  });

  it('package.json serves the root, skein/internal and a bin file that exists', () => {
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
    expect(Object.keys(pkg.exports)).toEqual(expect.arrayContaining(['.', './internal']));
    for (const bin of Object.values(pkg.bin as Record<string, string>)) {
      expect(existsSync(join(repo, bin))).toBe(true);
    }
  });
});
