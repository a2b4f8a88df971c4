/**
 * What a pipeline stage is made of, and the checks that give bad input a named error at `stage()`.
 */
import { InvalidArgumentError } from '../../memory/errors.js';
import type { WorkerPool } from '../../pool/index.js';
import { CircuitBreaker } from '../../resilience/circuit-breaker.js';
import type { LeakyBucket } from '../../resilience/leaky-bucket.js';
import type { RetryPolicy } from '../../resilience/retry.js';
import type { SlidingWindowLimiter } from '../../resilience/sliding-window-limiter.js';
import { Timeout } from '../../resilience/timeout.js';
import type { TokenBucket } from '../../resilience/token-bucket.js';
import { availableCores } from '../../memory/cores.js';
import { allKeys, onlyKeys } from '../../memory/validate.js';

/** What a stage function gets besides its input. */
export interface StageRunContext {
  /** Aborts when the run stops (signal, error, consumer `break`) or the stage's timeout passes. */
  readonly signal: AbortSignal;
  /** The pool's worker id in a worker; 0 on the main thread. */
  readonly workerId: number;
}

/** A stage that runs an export of a pool's task module in its workers. */
export interface PoolStage {
  pool: WorkerPool;
  /** The export to run; the default export by default. */
  fn?: string;
}

/** A stage that runs a function on the calling thread (I/O, light work). */
export interface RunStage<I, O> {
  run: (input: I, ctx: StageRunContext) => O | PromiseLike<O>;
}

/** The limiters a stage accepts: each stage item takes one token or turn. */
export type StageLimiter = TokenBucket | LeakyBucket | SlidingWindowLimiter;

/** How a stage runs: its concurrency, its input buffer and its policies. */
export interface StageOptions {
  /**
   * Most items in this stage at once. Default: 128 x cores for a pool stage (quick items travel to
   * the workers in batches, two per worker in flight, and a batch needs slots for each of its items:
   * with 128 x cores, batches of ~200 µs items reach 64 items, which bench/pipeline.ts measured ~4%
   * faster than the 32 that 64 x cores allows), cores for a run stage. A stage holds up to
   * `concurrency + buffer` items: set it lower for large items (images, files).
   */
  concurrency?: number;
  /** Items that may wait in front of this stage. Default: its concurrency. */
  buffer?: number;
  /** Tries a failed item again (backoff and `retryIf` as configured). */
  retry?: RetryPolicy;
  /**
   * Refuses items while open; shared by every worker that runs the stage. On a `run` stage, what its
   * `fallback` returns for an item is that item's output from the stage, and its `isFailure` judges
   * the stage's errors. A pool stage's breaker runs in the workers, where those functions cannot go
   * (they stay in the thread that made them), so a pool stage refuses a breaker that has them. The
   * workers rebuild it as a plain CircuitBreaker, so a pool stage also refuses a subclass that
   * overrides `execute` (its override would not run there); a `run` stage runs either as it is.
   */
  breaker?: CircuitBreaker<unknown>;
  /**
   * Time limit of one try, in ms (or a Timeout). A try that returns a promise is cut off when the
   * time runs out (its `ctx.signal` aborts with TimeoutError); a synchronous one cannot be
   * interrupted, and fails with TimeoutError if it returns late.
   */
  timeout?: number | Timeout;
  /** Paces the stage's tries. */
  limiter?: StageLimiter;
}

/** What a stage's options take; its target takes these too, besides `pool` and `fn`, or `run`. */
const STAGE_KEYS = allKeys<StageOptions>({ concurrency: true, buffer: true, retry: true, breaker: true, timeout: true, limiter: true });
const TARGET_KEYS: readonly string[] = ['pool', 'fn', 'run', ...STAGE_KEYS];

/** A stage as the pipeline keeps it (not exported from the package root). */
export interface StageDef {
  name: string;
  kind: 'pool' | 'run' | 'filter';
  pool?: WorkerPool;
  fn: string;
  run?: (input: unknown, ctx: StageRunContext) => unknown;
  concurrency: number;
  buffer: number;
  retry?: RetryPolicy;
  breaker?: CircuitBreaker<unknown>;
  timeout: number;
  limiter?: StageLimiter;
}

/**
 * Most slots a stage may have. Its slots are made when the pipeline first runs (a free list, and for
 * a pool stage two shared words each): `concurrency: 1e9` ended the process there with a fatal
 * out-of-memory error, and Number.MAX_SAFE_INTEGER threw a RangeError from processStream. 2^20 is
 * 8x the default of 128 x cores on a 1024-core machine.
 */
export const MAX_STAGE_CONCURRENCY = 2 ** 20;

function count(v: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new InvalidArgumentError(`Expected ${name} to be an integer ${range}, got ${String(v)}`);
  }
  return v;
}

/** The methods a pool stage's breaker runs in the workers (chain-runner.ts: callNow, or execute). */
const WORKER_BREAKER_METHODS = ['execute', 'callNow'] as const;

/**
 * The first of those that `b` (a CircuitBreaker) does not take from CircuitBreaker.prototype: a
 * subclass's override anywhere on its prototype chain, or one set on the object itself.
 */
function overriddenBreakerMethod(b: unknown): string | undefined {
  if (!(b instanceof CircuitBreaker)) return undefined;
  for (const k of WORKER_BREAKER_METHODS) {
    if (b[k] !== CircuitBreaker.prototype[k]) return k;
  }
  return undefined;
}

function isShared(x: unknown): boolean {
  return typeof x === 'object' && x !== null && typeof (x as { handle?: { kind?: unknown } }).handle?.kind === 'string';
}

/** Validates and resolves `stage(name, target, opts)`. */
export function resolveStage(
  name: unknown,
  target: unknown,
  opts: StageOptions | undefined,
  taken: (name: string) => boolean,
): StageDef {
  if (typeof name !== 'string' || name === '') {
    throw new InvalidArgumentError(`Expected a stage name (a non-empty string), got ${String(name)}`);
  }
  if (taken(name)) throw new InvalidArgumentError(`the pipeline already has a stage named '${name}'`);
  if (typeof target !== 'object' || target === null) {
    throw new InvalidArgumentError(`stage '${name}' needs { pool, fn? } or { run }`);
  }
  // A misspelt key (`{ concurency: 4 }`, `{ retries: policy }`) was ignored without a word.
  onlyKeys(target, `stage '${name}' targets`, TARGET_KEYS);
  if (opts !== undefined) {
    if (typeof opts !== 'object' || opts === null) throw new InvalidArgumentError(`stage '${name}' options must be an object`);
    onlyKeys(opts, `stage '${name}' options`, STAGE_KEYS);
  }
  const t = target as Partial<PoolStage & RunStage<unknown, unknown>> & StageOptions;
  const o: StageOptions = { ...t, ...opts };
  const hasPool = t.pool !== undefined;
  const hasRun = t.run !== undefined;
  if (hasPool === hasRun) throw new InvalidArgumentError(`stage '${name}' needs exactly one of pool and run`);
  if (hasPool && typeof (t.pool as { submit?: unknown }).submit !== 'function') {
    throw new InvalidArgumentError(`stage '${name}': pool must be a WorkerPool`);
  }
  if (hasRun && typeof t.run !== 'function') throw new InvalidArgumentError(`stage '${name}': run must be a function`);
  if (t.fn !== undefined && (typeof t.fn !== 'string' || t.fn === '' || !hasPool)) {
    throw new InvalidArgumentError(`stage '${name}': fn must name an export of the pool's task module`);
  }
  const cores = availableCores();
  const concurrency = count(
    o.concurrency ?? Math.min(hasPool ? 128 * cores : cores, MAX_STAGE_CONCURRENCY),
    `stage '${name}' concurrency`,
    1,
    MAX_STAGE_CONCURRENCY,
  );
  const buffer = count(o.buffer ?? concurrency, `stage '${name}' buffer`, 0);
  if (o.retry !== undefined && typeof (o.retry as { execute?: unknown }).execute !== 'function') {
    throw new InvalidArgumentError(`stage '${name}': retry must be a RetryPolicy`);
  }
  // A pool stage's breaker and limiter run in the workers, so they must be shared objects.
  for (const [key, v] of [
    ['breaker', o.breaker],
    ['limiter', o.limiter],
  ] as const) {
    if (v !== undefined && !isShared(v)) {
      throw new InvalidArgumentError(`stage '${name}': ${key} must be a skein ${key === 'breaker' ? 'CircuitBreaker' : 'TokenBucket, LeakyBucket or SlidingWindowLimiter'}`);
    }
  }
  // Its copy in the workers would lack them: a fallback never called (items dead-lettered with
  // BrokenCircuitError instead), errors isFailure ignores counted against the breaker.
  if (hasPool && (o.breaker as { hasFunctions?: boolean } | undefined)?.hasFunctions === true) {
    throw new InvalidArgumentError(
      `stage '${name}': a pool stage's breaker runs in the pool's workers, where its fallback and isFailure cannot go ` +
        '(functions stay in the thread that made them): give it a breaker without them, or make it a { run } stage ' +
        'that calls pool.submit through breaker.execute',
    );
  }
  // The workers rebuild it from its handle as the one shared kind, a plain CircuitBreaker: a
  // subclass's execute (logging, metrics, a changed verdict) never ran for a pool stage's items.
  const overridden = hasPool ? overriddenBreakerMethod(o.breaker) : undefined;
  if (overridden !== undefined) {
    const cls = (o.breaker as object).constructor?.name || 'its class';
    throw new InvalidArgumentError(
      `stage '${name}': a pool stage's breaker runs in the pool's workers as a plain CircuitBreaker, so the ` +
        `${overridden} override of ${cls} would never run there: give it a plain CircuitBreaker (new CircuitBreaker(...)), ` +
        'or make it a { run } stage that calls pool.submit through breaker.execute',
    );
  }
  let timeout = 0;
  if (o.timeout instanceof Timeout) timeout = o.timeout.ms;
  else if (o.timeout !== undefined) {
    if (typeof o.timeout !== 'number' || !(o.timeout > 0)) {
      throw new InvalidArgumentError(`Expected stage '${name}' timeout to be milliseconds > 0 or a Timeout, got ${String(o.timeout)}`);
    }
    timeout = o.timeout;
  }
  if (timeout === Number.POSITIVE_INFINITY) timeout = 0;
  return {
    name,
    kind: hasPool ? 'pool' : 'run',
    pool: t.pool,
    fn: t.fn ?? '',
    run: t.run as StageDef['run'],
    concurrency,
    buffer,
    retry: o.retry,
    breaker: o.breaker,
    timeout,
    limiter: o.limiter,
  };
}
