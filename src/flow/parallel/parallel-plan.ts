/**
 * What a data-parallel call (parallel.ts) checks and plans before it runs: its target's index
 * range, its function, its options, and the shared job its participants claim chunks of
 * (layout.ts).
 */
import { InvalidArgumentError } from '../../memory/errors.js';
import { allKeys, onlyKeys } from '../../memory/validate.js';
import { functionSource, WorkerPool, workerLimit } from '../../pool/index.js';
import { type FunctionRef, JobKind, MAX_CHUNKS, MAX_REDUCE_CHUNKS, type ParallelJob, TICKET } from './layout.js';

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

/** What a call loops over: a shared typed array, a length, or an index range. */
export type Target = TypedArray | number | IndexRange;

export function isTypedArray(x: unknown): x is TypedArray {
  return ArrayBuffer.isView(x) && !(x instanceof DataView);
}

export function rangeOf(target: Target, what: string): IndexRange & { data: TypedArray | undefined } {
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

export function fnRef(fn: unknown, what: string): FunctionRef {
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

/** A checked call: its shared job and how many participants run it. */
export interface Plan {
  job: ParallelJob;
  participants: number;
}

/** Checks a call's target, function and options, and lays out its shared job. */
export function plan(
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
