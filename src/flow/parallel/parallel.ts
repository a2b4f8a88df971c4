/**
 * `parallelFor`, `parallelMap`, `parallelReduce`: one loop over shared memory, split across a pool.
 *
 * The caller's typed array lives in a SharedArrayBuffer, so every worker reads and writes the same
 * memory and nothing is copied. The index range is cut into chunks that the pool's workers claim
 * one at a time from a shared cursor (see layout.ts), so chunks of uneven cost finish together, and
 * reductions are combined by the worker that finishes the last chunk, not on the calling thread.
 */
import { MAX_TIMER_MS } from '../../memory/clock.js';
import { AbortError, InvalidArgumentError, TimeoutError } from '../../memory/errors.js';
import { allKeys, onlyKeys } from '../../memory/validate.js';
import { watchAbort } from '../../memory/wait/index.js';
import { functionSource, PoolClosedError, QueueFullError, WorkerCrashedError, WorkerPool, workerLimit } from '../../pool/index.js';
import { ParallelError } from '../errors.js';
import {
  CANCELLED,
  FAILED,
  FAILED_BY,
  type FunctionRef,
  JobKind,
  MAX_CHUNKS,
  MAX_REDUCE_CHUNKS,
  PARALLEL_TASK,
  NOT_STARTED,
  type ParallelJob,
  STOP,
  TICKET,
} from './layout.js';

/** A typed array (any element type); the parallel calls want one over a SharedArrayBuffer. */
export type TypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

/** The element type of a typed array: `bigint` for the BigInt arrays, `number` otherwise. */
export type ElementOf<T> = T extends BigInt64Array | BigUint64Array ? bigint : number;

/** Indices `start` (inclusive) to `end` (exclusive). A plain number `n` means 0..n. */
export interface IndexRange {
  start: number;
  end: number;
}

/** Options every data-parallel call takes. */
export interface ParallelOptions<A = unknown> {
  /** The pool whose workers run the loop; a named function is an export of its task module. */
  pool: WorkerPool;
  /**
   * Indices per chunk, the unit a worker claims. Default: about 64 chunks per participant. It grows
   * where the range would need more than 2^30 chunks (2^16 for parallelReduce).
   */
  chunk?: number;
  /**
   * Tasks that take part (each claims chunks until none are left). Default: the most workers the
   * pool may have (its maxWorkers, or a lower cap set on it), so a dynamic pool grows to run them.
   */
  parallelism?: number;
  /** Passed to every call of the function (copied once per participant; shared objects arrive live). */
  arg?: A;
  /**
   * Aborting stops the call at chunk boundaries: no chunk starts afterwards, chunks already
   * running finish, and then the call rejects with AbortError (so nothing writes to the array once
   * it settled). Keep chunks short where prompt aborts matter.
   */
  signal?: AbortSignal;
  /**
   * Milliseconds; past it the call stops as on an abort and rejects with TimeoutError. The pool's
   * `taskTimeout` does not apply to a parallel call (its tasks run many chunks each).
   */
  timeout?: number;
}

type Target = TypedArray | number | IndexRange;

function isTypedArray(x: unknown): x is TypedArray {
  return ArrayBuffer.isView(x) && !(x instanceof DataView);
}

function rangeOf(target: Target, what: string): IndexRange & { data: TypedArray | undefined } {
  if (isTypedArray(target)) {
    if (!(target.buffer instanceof SharedArrayBuffer)) {
      throw new InvalidArgumentError(
        `${what} needs a typed array over a SharedArrayBuffer (e.g. new Float64Array(new SharedArrayBuffer(n * 8))): ` +
          'workers must share its memory, and a plain ArrayBuffer would be copied to each of them',
      );
    }
    return { start: 0, end: target.length, data: target };
  }
  if (typeof target === 'number') {
    if (!Number.isSafeInteger(target) || target < 0) {
      throw new InvalidArgumentError(`${what}: a length must be an integer >= 0, got ${target}`);
    }
    return { start: 0, end: target, data: undefined };
  }
  const { start, end } = (target ?? {}) as Partial<IndexRange>;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || (start as number) < 0 || (end as number) < (start as number)) {
    throw new InvalidArgumentError(
      `${what} takes a shared typed array, a length, or { start, end } with 0 <= start <= end (integers)`,
    );
  }
  return { start: start as number, end: end as number, data: undefined };
}

function fnRef(fn: unknown, what: string): FunctionRef {
  if (typeof fn === 'string' && fn !== '') return fn;
  if (typeof fn === 'function') return { source: functionSource(fn, what) };
  throw new InvalidArgumentError(`${what} must be an export name of the pool's task module or a self-contained function`);
}

function positiveInt(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw new InvalidArgumentError(`${name} must be an integer >= 1, got ${String(v)}`);
  }
  return v;
}

const PARALLEL_KEYS = allKeys<ParallelOptions>({ pool: true, chunk: true, parallelism: true, arg: true, signal: true, timeout: true });
const MAP_KEYS: readonly string[] = [...PARALLEL_KEYS, 'out'];
const REDUCE_KEYS: readonly string[] = [...PARALLEL_KEYS, 'identity', 'combine'];

interface Plan {
  job: ParallelJob;
  participants: number;
}

function plan(
  what: string,
  kind: JobKind,
  target: Target,
  fn: unknown,
  o: ParallelOptions,
  extra: { out?: TypedArray; combine?: FunctionRef; identity?: number } = {},
): Plan {
  if (!o || !(o.pool instanceof WorkerPool)) throw new InvalidArgumentError(`${what} needs { pool }: a WorkerPool`);
  // `{ chunks: 100 }`, `{ signl }` were ignored without a word.
  onlyKeys(o, `${what} options`, kind === JobKind.Map ? MAP_KEYS : kind === JobKind.Reduce ? REDUCE_KEYS : PARALLEL_KEYS);
  const { start, end, data } = rangeOf(target, what);
  const body = fnRef(fn, `${what}'s function`);
  const n = end - start;
  const participants =
    // The most workers the pool may have, not those started now: an idle dynamic pool has none,
    // and its participants' tasks are what make it start more.
    o.parallelism === undefined ? Math.max(1, workerLimit(o.pool).maxWorkers) : positiveInt(o.parallelism, 'parallelism');
  let chunk = o.chunk === undefined ? Math.max(1, Math.ceil(n / (participants * 64))) : positiveInt(o.chunk, 'chunk');
  chunk = Math.max(chunk, Math.ceil(n / (kind === JobKind.Reduce ? MAX_REDUCE_CHUNKS : MAX_CHUNKS)));
  const chunks = Math.ceil(n / chunk);
  if (o.timeout !== undefined && !(typeof o.timeout === 'number' && o.timeout >= 0)) {
    throw new InvalidArgumentError(`timeout must be a number of milliseconds >= 0, got ${String(o.timeout)}`);
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw new InvalidArgumentError('signal must be an AbortSignal');
  }
  const p = Math.min(participants, Math.max(1, chunks));
  return {
    participants: p,
    job: {
      kind,
      ctl: new Int32Array(new SharedArrayBuffer((TICKET + p) * 4)),
      parts: kind === JobKind.Reduce ? new Float64Array(new SharedArrayBuffer((chunks + 1) * 8)) : undefined,
      data,
      out: extra.out,
      body,
      combine: extra.combine,
      identity: extra.identity ?? 0,
      start,
      end,
      chunk,
      arg: o.arg,
    },
  };
}

/** Runs the plan's participants on the pool; resolves once all of them settled and none failed. */
async function run(what: string, { job, participants }: Plan, o: ParallelOptions): Promise<void> {
  if (o.signal?.aborted) throw new AbortError(`${what} was aborted`, { cause: o.signal.reason });
  if (job.end === job.start) return;
  const ctl = job.ctl;
  const cancels: AbortController[] = [];
  let stopped: Error | undefined;
  let failure: unknown;
  /** Whether `failure` is the pool's refusal of the call rather than a failure of its loop (below). */
  let refusedByPool = false;
  const errors = new Map<number, unknown>(); // by participant, to report FAILED_BY's own error
  let refused = 0;
  const halt = (): void => {
    Atomics.store(ctl, STOP, 1); // P2: no chunk starts after this
    // P4: participants that have not started never will; their tasks leave the pool's queue.
    for (let id = 0; id < participants; id++) {
      if (Atomics.compareExchange(ctl, TICKET + id, NOT_STARTED, CANCELLED) === NOT_STARTED) cancels[id].abort();
    }
  };
  const stop = (reason: Error): void => {
    stopped ??= reason;
    halt();
  };
  const onAbort = (): void => stop(new AbortError(`${what} was aborted`, { cause: o.signal?.reason }));
  const unwatch = o.signal ? watchAbort(o.signal, onAbort) : undefined; // one listener per signal
  const timer =
    o.timeout === undefined || o.timeout > MAX_TIMER_MS
      ? undefined
      : setTimeout(() => stop(new TimeoutError(`${what} timed out after ${o.timeout} ms`)), o.timeout);
  try {
    const tasks: Promise<unknown>[] = [];
    for (let id = 0; id < participants; id++) {
      const cancel = new AbortController();
      cancels.push(cancel);
      tasks.push(
        // timeout 0: a participant runs many chunks, so the pool's taskTimeout would cut a long
        // call whose chunks are each short, and reject it while participants still run (P4).
        // The call's own `timeout` bounds it, at chunk boundaries.
        o.pool.submit({ job, id }, { fn: PARALLEL_TASK, signal: cancel.signal, timeout: 0 }).catch((err: unknown) => {
          if (cancel.signal.aborted) return; // cancelled before it started (P4): not a failure
          // Refused by a full queue (maxQueue): it never starts, so the others claim its share; only
          // less parallelism, unless every participant is refused (then nothing would run a chunk).
          if (err instanceof QueueFullError && ++refused < participants) {
            Atomics.compareExchange(ctl, TICKET + id, NOT_STARTED, CANCELLED);
            return;
          }
          if (failure === undefined) {
            failure = err;
            // Not the loop's failure but the pool's answer to the call: it refused the participant
            // before it started (a closed or broken pool, an arg that cannot be copied, a full
            // queue), or it was closed under it. The caller gets that error as it is, not inside a
            // ParallelError. (A worker that dies is the loop's failure, started or not.)
            refusedByPool =
              err instanceof PoolClosedError ||
              (!(err instanceof WorkerCrashedError) && Atomics.load(ctl, TICKET + id) === NOT_STARTED);
          }
          errors.set(id, err);
          halt();
        }),
      );
    }
    await Promise.all(tasks);
  } finally {
    if (timer) clearTimeout(timer);
    unwatch?.();
  }
  if (stopped) throw stopped;
  if (failure !== undefined) {
    const k = Atomics.load(ctl, FAILED) - 1;
    if (k < 0 && refusedByPool) throw failure;
    // The error of the chunk named, not of whichever participant's rejection arrived first.
    const by = Atomics.load(ctl, FAILED_BY);
    if (k >= 0 && errors.has(by)) failure = errors.get(by);
    const chunk =
      k >= 0
        ? { start: job.start + k * job.chunk, end: Math.min(job.end, job.start + (k + 1) * job.chunk) }
        : undefined;
    const where = chunk ? ` on indices ${chunk.start}..${chunk.end - 1}` : '';
    const msg = (failure as Error)?.message ?? String(failure);
    throw new ParallelError(`${what} failed${where}: ${msg}`, chunk, { cause: failure });
  }
}

/**
 * Runs `fn(start, end, array, arg)` over chunks of `target` on the pool's workers, in place.
 *
 * `target` is a typed array over a SharedArrayBuffer (indices 0..length), a length, or
 * `{ start, end }`. `fn` is the name of an export of the pool's task module, or a self-contained
 * function (sent as source: it sees only its arguments; a variable it closed over fails with
 * ClosureVariableError). `fn` runs synchronously (a function that returns a promise, an async one,
 * fails the call with a TypeError as cause). Rejects with ParallelError when `fn` throws or a worker
 * dies (the pool stays usable), AbortError or TimeoutError; when the pool refuses the call, with its
 * own error as it is: PoolClosedError (closed, or closed with force under the call), QueueFullError
 * (every participant refused), SerializationError (an `arg` that cannot be copied), or the error of
 * a pool whose workers cannot start (WorkerSetupError, WorkerBootError, WorkerModuleError).
 *
 * @example
 * ```ts
 * // task module: export function scale(start, end, a, k) { for (let i = start; i < end; i++) a[i] *= k; }
 * const a = new Float64Array(new SharedArrayBuffer(8 * 1e7));
 * await parallelFor(a, 'scale', { pool, arg: 2 });
 * ```
 */
export function parallelFor<T extends TypedArray, A = unknown>(
  target: T,
  fn: string | ((start: number, end: number, array: T, arg: A) => void),
  opts: ParallelOptions<A>,
): Promise<void>;
export function parallelFor<A = unknown>(
  target: number | IndexRange,
  fn: string | ((start: number, end: number, array: undefined, arg: A) => void),
  opts: ParallelOptions<A>,
): Promise<void>;
export function parallelFor(target: Target, fn: unknown, opts: ParallelOptions): Promise<void> {
  try {
    return run('parallelFor', plan('parallelFor', JobKind.For, target, fn, opts), opts);
  } catch (err) {
    return Promise.reject(err);
  }
}

/** Options of {@link parallelMap}. */
export interface ParallelMapOptions<A = unknown, O extends TypedArray = TypedArray> extends ParallelOptions<A> {
  /** Where to write (a shared typed array, at least as long as the input). Default: a new one like the input (Float64Array for a range). */
  out?: O;
}

/**
 * Writes `out[i - start] = fn(value, i, arg)` for every index, on the pool's workers; `value` is
 * `input[i]` (for a range: `i`). Resolves to `out` (by default a new shared array like `input`).
 * `fn` and the errors are as for {@link parallelFor}.
 *
 * @example
 * ```ts
 * const roots = await parallelMap(a, (x) => Math.sqrt(x), { pool });
 * ```
 */
export function parallelMap<T extends TypedArray, A = unknown, O extends TypedArray = T>(
  input: T,
  fn: string | ((value: ElementOf<T>, index: number, arg: A) => ElementOf<O>),
  opts: ParallelMapOptions<A, O>,
): Promise<O>;
export function parallelMap<A = unknown, O extends TypedArray = Float64Array>(
  input: number | IndexRange,
  fn: string | ((value: number, index: number, arg: A) => ElementOf<O>),
  opts: ParallelMapOptions<A, O>,
): Promise<O>;
export function parallelMap(input: Target, fn: unknown, opts: ParallelMapOptions): Promise<TypedArray> {
  try {
    const { start, end, data } = rangeOf(input, 'parallelMap');
    const n = end - start;
    let out = opts?.out as TypedArray | undefined;
    if (out === undefined) {
      const C = (data?.constructor ?? Float64Array) as new (b: SharedArrayBuffer) => TypedArray;
      const bytes = (data?.BYTES_PER_ELEMENT ?? 8) * n;
      out = new C(new SharedArrayBuffer(bytes));
    } else {
      if (!isTypedArray(out)) throw new InvalidArgumentError('parallelMap: out must be a typed array over a SharedArrayBuffer');
      rangeOf(out, 'parallelMap (out)');
      if (out.length < n) throw new InvalidArgumentError(`parallelMap: out has ${out.length} elements, needs ${n}`);
    }
    const p = plan('parallelMap', JobKind.Map, input, fn, opts, { out });
    const result = out;
    return run('parallelMap', p, opts).then(() => result);
  } catch (err) {
    return Promise.reject(err);
  }
}

/** Options of {@link parallelReduce}. */
export interface ParallelReduceOptions<A = unknown> extends ParallelOptions<A> {
  /** Each chunk's starting value, and the result over no indices. Default 0. */
  identity?: number;
  /**
   * Joins two partial results; must be associative. Default: the reducer itself, right for sums,
   * products, min and max, where joining two partials is one more step (give it for, say, a sum of squares);
   * it is then called as every step is, `fn(acc, partial, index, arg)`, index being the chunk's first.
   */
  combine?: string | ((a: number, b: number, arg: A) => number);
}

/**
 * Folds every index with `fn(acc, value, i, arg)` (from `identity` per chunk), then joins the
 * chunks' partials with `combine`, in chunk order, in a worker: the result does not depend on
 * which worker ran which chunk. `value` is `input[i]` (for a range: `i`); the result is a number.
 *
 * @example
 * ```ts
 * const sum = await parallelReduce(a, (acc, x) => acc + x, { pool });
 * const sumSq = await parallelReduce(a, (acc, x) => acc + x * x, { pool, combine: (p, q) => p + q });
 * ```
 */
export function parallelReduce<T extends Exclude<TypedArray, BigInt64Array | BigUint64Array>, A = unknown>(
  input: T,
  fn: string | ((acc: number, value: number, index: number, arg: A) => number),
  opts: ParallelReduceOptions<A>,
): Promise<number>;
export function parallelReduce<A = unknown>(
  input: number | IndexRange,
  fn: string | ((acc: number, value: number, index: number, arg: A) => number),
  opts: ParallelReduceOptions<A>,
): Promise<number>;
export function parallelReduce(input: Target, fn: unknown, opts: ParallelReduceOptions): Promise<number> {
  try {
    if (input instanceof BigInt64Array || input instanceof BigUint64Array) {
      throw new InvalidArgumentError('parallelReduce folds into a number: map a BigInt array to numbers first');
    }
    const identity = opts?.identity ?? 0;
    if (typeof identity !== 'number') throw new InvalidArgumentError('identity must be a number');
    const combine = opts?.combine === undefined ? undefined : fnRef(opts.combine, "parallelReduce's combine");
    const p = plan('parallelReduce', JobKind.Reduce, input, fn, opts, { combine, identity });
    const parts = p.job.parts as Float64Array;
    const chunks = parts.length - 1;
    return run('parallelReduce', p, opts).then(() => (chunks === 0 ? identity : parts[chunks])); // P5
  } catch (err) {
    return Promise.reject(err);
  }
}
