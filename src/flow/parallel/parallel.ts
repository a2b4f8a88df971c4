/**
 * `parallelFor`, `parallelMap`, `parallelReduce`: one loop over shared memory, split across a pool.
 *
 * The caller's typed array lives in a SharedArrayBuffer, so every worker reads and writes the same
 * memory and nothing is copied. The index range is cut into chunks that the pool's workers claim
 * one at a time from a shared cursor (see layout.ts), so chunks of uneven cost finish together, and
 * reductions are combined by the worker that finishes the last chunk, not on the calling thread.
 */
import { InvalidArgumentError } from '../../memory/errors.js';
import { JobKind } from './layout.js';
import {
  type ElementOf,
  fnRef,
  type IndexRange,
  isTypedArray,
  type ParallelOptions,
  plan,
  rangeOf,
  type Target,
  type TypedArray,
} from './parallel-plan.js';
import { run } from './parallel-run.js';

export type { ElementOf, IndexRange, ParallelOptions, TypedArray } from './parallel-plan.js';

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
