import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ResourceLimits, SHARE_ENV, type TransferListItem } from 'node:worker_threads';
import { InvalidArgumentError } from '../../memory/errors.js';
import { SPIN_PAYS } from '../../memory/spin.js';
import { MAX_WORKER_INDEX } from '../shared/index.js';
import { availableCores } from '../../memory/cores.js';
import { AUTO_SPIN_MICROS } from './result-spin.js';
import { DEFAULT_PRIORITY, MAX_PRIORITY, MIN_PRIORITY } from './task-queue.js';
import { allKeys, integer, invalid, millis, onlyKeys } from '../../memory/validate.js';

/** Options of a {@link WorkerPool}. Every time is in milliseconds. */
export interface WorkerPoolOptions {
  /** Task module: path or file URL of a `.js`/`.mjs`/`.cjs` (or `.ts` under a TS-capable Node). */
  filename: string | URL;
  /** Workers kept even when idle. Default: `maxWorkers` for a fixed pool, 0 for a dynamic one. */
  minWorkers?: number;
  /**
   * Most workers. Default: the CPUs the process may run on (`os.availableParallelism()`: affinity, a
   * container's cpuset), lowered to a cgroup CPU quota where one is set (`docker --cpus 2`, a
   * Kubernetes CPU limit; read from /sys/fs/cgroup, since Node 20's libuv does not).
   */
  maxWorkers?: number;
  /** A worker above `minWorkers` idle this long exits. Default 10 000. */
  idleTimeout?: number;
  /** Most tasks waiting (not yet running); past it `submit` rejects with QueueFullError. Default Infinity. */
  maxQueue?: number;
  /**
   * Time limit of every task's run (from its start, not its submit); a task past it rejects with
   * TimeoutError and its `ctx.signal` aborts; a worker still running it `killGrace` ms later is
   * terminated and replaced. Default 0 (none).
   */
  taskTimeout?: number;
  /** Tasks one worker runs at once (useful for async tasks). Default 1. */
  concurrentTasksPerWorker?: number;
  /** Passed to each `new Worker`. */
  resourceLimits?: ResourceLimits;
  /** Each worker's `workerData` (from `node:worker_threads`). */
  workerData?: unknown;
  /** Most tasks handed to workers at once (the shared slot table). Default 8192. */
  maxInFlight?: number;
  /**
   * How long the main thread may spin for results right after it hands out tasks, before it
   * yields to the event loop. `'auto'` (default): up to 20 µs, only while every task out is
   * already in a worker, backing off after spins that found nothing, never on a single CPU
   * (see `result-spin.ts`).
   * `0`: never spin. A number: spin that many microseconds after every flush (lowest latency,
   * most CPU).
   */
  spinMicros?: number | 'auto';
  /** Grace after a timeout or abort before a worker that does not give the task up is terminated. Default 100. */
  killGrace?: number;
  /**
   * A worker running one task longer than this without progress counts as unhealthy. Default 30 000.
   * A parallel call's task makes progress with every chunk it ends, so a long call whose chunks
   * keep ending is not stuck; a single chunk (or a plain task) running past it is.
   */
  unhealthyAfter?: number;
  /**
   * Longest a new worker may take to load its task module and run its `setup()`. A module that has
   * not finished loading by then (a top-level await that never settles) fails pending and new tasks
   * with WorkerBootError (a `setup()` still pending, with WorkerSetupError), and the pool starts no
   * more workers. Default 30 000; `Infinity` waits for ever.
   */
  bootTimeout?: number;
  /** A worker that has run this many tasks is replaced by a fresh one, between tasks. Default Infinity. */
  maxTasksPerWorker?: number;
  /**
   * A worker whose JavaScript heap (V8's used heap size, in MiB) is above this after a task is
   * replaced by a fresh one, between tasks. Default Infinity. For a hard limit use `resourceLimits`.
   */
  maxMemoryPerWorker?: number;
  /**
   * Each worker's `process.env` (`new Worker`'s `env`); default: a copy of the main thread's.
   * `SHARE_ENV` (from `node:worker_threads`) shares the main thread's, changes included.
   */
  env?: Record<string, string | undefined> | typeof SHARE_ENV;
  /** Appended to each worker's `process.argv` (`new Worker`'s `argv`). */
  argv?: readonly string[];
  /** Each worker's `process.execArgv` (`new Worker`'s `execArgv`); default: the main thread's. */
  execArgv?: readonly string[];
  /** Names the pool's worker threads (`<name>-<workerId>`, seen in inspectors and heap snapshots). Default 'skein-worker'. */
  name?: string;
}

/** Every option a pool takes (a pool refuses any other key: a misspelt one was ignored without a word). */
export const POOL_OPTION_KEYS = allKeys<WorkerPoolOptions>({
  filename: true,
  minWorkers: true,
  maxWorkers: true,
  idleTimeout: true,
  maxQueue: true,
  taskTimeout: true,
  concurrentTasksPerWorker: true,
  resourceLimits: true,
  workerData: true,
  maxInFlight: true,
  spinMicros: true,
  killGrace: true,
  unhealthyAfter: true,
  bootTimeout: true,
  maxTasksPerWorker: true,
  maxMemoryPerWorker: true,
  env: true,
  argv: true,
  execArgv: true,
  name: true,
});

/** Per-task options of `submit`. */
export interface SubmitOptions {
  /** Name of the module's export to run; default: the default export. */
  fn?: string;
  /** 1..10, higher first; default 5. FIFO within a priority. */
  priority?: number;
  /**
   * Aborting it removes a queued task, or aborts `ctx.signal` of a running one; rejects with
   * AbortError. A task that already ran to its end (its result not yet read) keeps its result.
   */
  signal?: AbortSignal;
  /** Run-time limit for this task (overrides the pool's `taskTimeout`). */
  timeout?: number;
  /**
   * ArrayBuffers (and ports) to move to the worker instead of copying; the caller's are detached,
   * as with `postMessage`. A Uint8Array, Buffer or ArrayBuffer input whose list is just its own
   * buffer, and which fits the task rings, moves to the pool and rides the rings like any input
   * (no copy, no message; a Buffer arrives as a Buffer); anything else is posted with its list.
   */
  transfer?: readonly TransferListItem[];
}

const SUBMIT_KEYS = allKeys<SubmitOptions>({ fn: true, priority: true, signal: true, timeout: true, transfer: true });

export interface ResolvedOptions {
  filename: string;
  minWorkers: number;
  maxWorkers: number;
  idleTimeout: number;
  maxQueue: number;
  taskTimeout: number;
  concurrency: number;
  resourceLimits?: ResourceLimits;
  workerData?: unknown;
  slots: number;
  spinMicros: number;
  spinAuto: boolean;
  killGrace: number;
  unhealthyAfter: number;
  bootTimeout: number;
  maxTasksPerWorker: number;
  maxMemoryPerWorker: number;
  env?: Record<string, string | undefined> | typeof SHARE_ENV;
  argv?: readonly string[];
  execArgv?: readonly string[];
  name: string;
}

function int(v: unknown, name: string, min: number, max?: number): number {
  return integer(v, name, { min, max });
}

/** Milliseconds >= 0; Infinity ("never") unless `allowInfinity` is false (memory/validate.ts). */
function ms(v: unknown, name: string, allowInfinity = true): number {
  return millis(v, name, { infinity: allowInfinity });
}

function bootTimeout(v: unknown): number {
  return millis(v ?? 30_000, 'bootTimeout', { positive: true, infinity: true });
}

function positive(v: unknown, name: string): number {
  if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) {
    throw new InvalidArgumentError(`${name} must be a number > 0, got ${String(v)}`);
  }
  return v;
}

function strings(v: unknown, name: string): readonly string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
    throw new InvalidArgumentError(`${name} must be an array of strings`);
  }
  return v as string[];
}

function record(v: unknown, name: string): Record<string, string | undefined> | undefined {
  if (v === undefined) return undefined;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new InvalidArgumentError(`${name} must be an object of strings`);
  }
  return v as Record<string, string | undefined>;
}

function nonEmpty(v: unknown, name: string): string {
  if (typeof v !== 'string' || v === '') throw new InvalidArgumentError(`${name} must be a non-empty string`);
  return v;
}

function spinMicros(v: unknown): number {
  if (v === undefined || v === 'auto') return SPIN_PAYS ? AUTO_SPIN_MICROS : 0;
  if (typeof v !== 'number' || !(v >= 0) || v > 10_000) invalid('spinMicros', "'auto' or microseconds in [0, 10000]", v);
  return v;
}

/**
 * Refuses a key a pool does not take, with piscina's and tinypool's size names called by ours: any
 * such key was ignored without a word (`{ maxWorker: 4 }`, `{ maxThreads: 4 }` made a pool of the
 * default size). `keys`: what this kind of pool takes.
 */
export function checkPoolKeys(o: object, what: string, keys: readonly string[]): void {
  const other = o as { minThreads?: unknown; maxThreads?: unknown };
  if (other.maxThreads !== undefined) throw new InvalidArgumentError("WorkerPool takes `maxWorkers`, not `maxThreads` (piscina's)");
  if (other.minThreads !== undefined) throw new InvalidArgumentError("WorkerPool takes `minWorkers`, not `minThreads` (piscina's)");
  onlyKeys(o, what, keys);
}

/** `what` names the options in errors (`'DynamicWorkerPool options'`). */
export function resolveOptions(o: WorkerPoolOptions, dynamic: boolean, what = 'WorkerPool options'): ResolvedOptions {
  if (!o || (typeof o.filename !== 'string' && !(o.filename instanceof URL))) {
    throw new InvalidArgumentError('WorkerPool needs { filename }: the path or file URL of a task module');
  }
  checkPoolKeys(o, what, POOL_OPTION_KEYS);
  const filename =
    o.filename instanceof URL || o.filename.startsWith('file:') ? fileURLToPath(o.filename) : o.filename;
  if (!existsSync(filename)) {
    // A relative path resolves against process.cwd(), not the calling module: say so, and show the
    // form that resolves beside the caller.
    const relative = !isAbsolute(filename)
      ? ` (a relative path resolves against the current directory, ${process.cwd()}; to name a file beside your module use new URL('${filename.startsWith('.') ? filename : `./${filename}`}', import.meta.url))`
      : '';
    throw new InvalidArgumentError(`task module not found: ${resolve(filename)}${relative}`);
  }
  const maxWorkers = int(o.maxWorkers ?? availableCores(), 'maxWorkers', 1, MAX_WORKER_INDEX);
  const minWorkers = int(o.minWorkers ?? (dynamic ? 0 : maxWorkers), 'minWorkers', 0, maxWorkers);
  const slots = int(o.maxInFlight ?? 8192, 'maxInFlight', 1, 1 << 20);
  return {
    // Absolute now: a worker started later (a dynamic pool, a replacement) must find the same file
    // after the program has changed its working directory.
    filename: resolve(filename),
    minWorkers,
    maxWorkers,
    idleTimeout: ms(o.idleTimeout ?? 10_000, 'idleTimeout'),
    maxQueue: integer(o.maxQueue ?? Infinity, 'maxQueue', { min: 0, infinity: true }),
    taskTimeout: o.taskTimeout === undefined ? 0 : ms(o.taskTimeout, 'taskTimeout'),
    concurrency: int(o.concurrentTasksPerWorker ?? 1, 'concurrentTasksPerWorker', 1, 1024),
    resourceLimits: o.resourceLimits,
    workerData: o.workerData,
    slots,
    spinMicros: spinMicros(o.spinMicros),
    spinAuto: o.spinMicros === undefined || o.spinMicros === 'auto',
    killGrace: ms(o.killGrace ?? 100, 'killGrace', false),
    unhealthyAfter: ms(o.unhealthyAfter ?? 30_000, 'unhealthyAfter'),
    bootTimeout: bootTimeout(o.bootTimeout),
    maxTasksPerWorker:
      o.maxTasksPerWorker === undefined || o.maxTasksPerWorker === Infinity
        ? Infinity
        : int(o.maxTasksPerWorker, 'maxTasksPerWorker', 1),
    maxMemoryPerWorker:
      o.maxMemoryPerWorker === undefined || o.maxMemoryPerWorker === Infinity
        ? Infinity
        : positive(o.maxMemoryPerWorker, 'maxMemoryPerWorker'),
    env: o.env === SHARE_ENV ? SHARE_ENV : record(o.env, 'env'),
    argv: strings(o.argv, 'argv'),
    execArgv: strings(o.execArgv, 'execArgv'),
    name: o.name === undefined ? 'skein-worker' : nonEmpty(o.name, 'name'),
  };
}

/** Validates a submit's options; returns the priority. */
export function checkSubmit(o: SubmitOptions): number {
  const p = o.priority ?? DEFAULT_PRIORITY;
  integer(p, 'priority', { min: MIN_PRIORITY, max: MAX_PRIORITY });
  if (o.fn !== undefined && (typeof o.fn !== 'string' || o.fn === '')) invalid('fn', 'the name of an export', o.fn);
  if (o.timeout !== undefined) ms(o.timeout, 'timeout');
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) invalid('signal', 'an AbortSignal', o.signal);
  if (o.transfer !== undefined && !Array.isArray(o.transfer)) invalid('transfer', 'an array', o.transfer);
  checkSubmitKeys(o);
  return p;
}

/**
 * Refuses a key a submit does not take (`{ timout: 50 }` ran with no time limit), with piscina's
 * names called by ours: taken silently, `name` ran the default export instead of the function
 * named, and `transferList` copied what was meant to move. `what` and `keys`: for map(), which
 * takes `ordered` and `window` besides.
 */
export function checkSubmitKeys(o: object, what = 'submit options', keys: readonly string[] = SUBMIT_KEYS): void {
  const other = o as { name?: unknown; transferList?: unknown; filename?: unknown };
  if (other.name !== undefined) throw new InvalidArgumentError("submit/run take the function's name as `fn`, not `name` (piscina's)");
  if (other.transferList !== undefined)
    throw new InvalidArgumentError("submit/run take the buffers to move as `transfer`, not `transferList` (piscina's)");
  if (other.filename !== undefined)
    throw new InvalidArgumentError('a task runs in its pool\'s task module: `filename` is a pool option, not a submit option');
  onlyKeys(o, what, keys);
}

/** What map() takes: a submit's options, and its own. */
export const MAP_KEYS: readonly string[] = [...SUBMIT_KEYS, 'ordered', 'window'];
