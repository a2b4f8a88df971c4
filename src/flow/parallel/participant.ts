/**
 * Worker side of a data-parallel call: one participant, run as the pool's builtin task
 * `skein:parallel`. It claims chunks from the shared cursor and runs the call's function over them,
 * in place on the shared memory (the protocol and its invariants P1..P5 are in layout.ts).
 *
 * Every pool worker imports this module (through src/worker-preload.ts) before its task module,
 * so the builtin exists in every worker.
 * Internal (not exported from the package root).
 */
import { isThenable } from '../../memory/thenable.js';
import {
  closureError,
  compileFunction,
  registerBuiltinTask,
  type TaskContext,
  taskFunction,
  taskProgress,
} from '../../pool/worker-api.js';
import {
  CURSOR,
  DONE,
  FAILED,
  FAILED_BY,
  type FunctionRef,
  JobKind,
  NOT_STARTED,
  PARALLEL_TASK,
  type ParallelJob,
  type ParticipantInput,
  STARTED,
  STOP,
  TICKET,
} from './layout.js';

type Fn = (...args: never[]) => unknown;
type Body = (start: number, end: number, data: unknown, arg: unknown) => void;
type MapFn = (value: unknown, index: number, arg: unknown) => unknown;
type ReduceFn = (acc: number, value: unknown, index: number, arg: unknown) => number;

function resolve(ref: FunctionRef): Fn {
  return (typeof ref === 'string' ? taskFunction(ref) : compileFunction(ref.source)) as Fn;
}

/**
 * Throws a TypeError when `v`, what `what` returned, is a promise: a chunk runs synchronously, so
 * an async function's work would be taken as done (its rejection lost, a promise written as NaN).
 * The promise's rejection is handled here, or it would kill the worker later as an unhandled one.
 * Checked on the first call of each chunk (an async function returns a promise on every call).
 */
function synchronous(v: unknown, what: string): void {
  if (!isThenable(v)) return;
  v.then(undefined, () => {});
  throw new TypeError(
    `${what} returned a promise: it runs synchronously on each chunk, so an async function is not awaited; make it synchronous`,
  );
}

function runFor(body: Body, s: number, e: number, j: ParallelJob): void {
  synchronous(body(s, e, j.data, j.arg), "parallelFor's function");
}

// Chunks are never empty (s < e), so the first index is run apart, to check its result once.
function runMap(fn: MapFn, s: number, e: number, j: ParallelJob): void {
  const { data, out, start, arg } = j;
  const o = out as { [i: number]: unknown };
  const first = fn(data ? data[s] : s, s, arg);
  synchronous(first, "parallelMap's function");
  o[s - start] = first;
  if (data) for (let i = s + 1; i < e; i++) o[i - start] = fn(data[i], i, arg);
  else for (let i = s + 1; i < e; i++) o[i - start] = fn(i, i, arg);
}

function runReduce(fn: ReduceFn, s: number, e: number, j: ParallelJob): number {
  const { data, arg } = j;
  let acc = fn(j.identity, data ? data[s] : s, s, arg);
  synchronous(acc, "parallelReduce's function");
  if (data) for (let i = s + 1; i < e; i++) acc = fn(acc, data[i], i, arg);
  else for (let i = s + 1; i < e; i++) acc = fn(acc, i, i, arg);
  if (typeof acc !== 'number') {
    throw new TypeError(`parallelReduce's function must return a number, got ${typeof acc}`);
  }
  return acc;
}

/**
 * Combines every chunk's partial in chunk order (P3) and stores the result (P4). Each step is
 * progress (taskProgress): with many chunks and a slow reducer as the combine, this runs long too.
 */
function combineAll(j: ParallelJob, chunks: number, ctx: TaskContext): number {
  const parts = j.parts as Float64Array;
  let r = parts[0];
  if (j.combine !== undefined) {
    const combine = resolve(j.combine) as (a: number, b: number, arg: unknown) => number;
    for (let k = 1; k < chunks; k++) {
      r = combine(r, parts[k], j.arg);
      if (k === 1) synchronous(r, "parallelReduce's combine");
      taskProgress(ctx);
    }
  } else {
    // The reducer joins as one more step, called as every step is: (acc, value, index, arg), the
    // index being the first of chunk k (so arg stays in its fourth place).
    const step = resolve(j.body) as ReduceFn;
    for (let k = 1; k < chunks; k++) {
      r = step(r, parts[k], j.start + k * j.chunk, j.arg);
      taskProgress(ctx);
    }
  }
  if (typeof r !== 'number') {
    throw new TypeError(`parallelReduce's combine must return a number, got ${typeof r}`);
  }
  parts[chunks] = r; // P5
  return r;
}

function participate({ job: j, id }: ParticipantInput, ctx: TaskContext): number | undefined {
  const { ctl, start, end, chunk, kind } = j;
  // P4: start only if the caller has not cancelled us.
  if (Atomics.compareExchange(ctl, TICKET + id, NOT_STARTED, STARTED) !== NOT_STARTED) return undefined;
  const chunks = Math.ceil((end - start) / chunk);
  const fn = resolve(j.body);
  let result: number | undefined;
  for (;;) {
    if (Atomics.load(ctl, STOP) !== 0) return undefined; // P2
    const k = Atomics.add(ctl, CURSOR, 1); // P1
    if (k >= chunks) return result;
    const s = start + k * chunk;
    const e = Math.min(end, s + chunk);
    let last: boolean;
    try {
      if (kind === JobKind.For) runFor(fn as Body, s, e, j);
      else if (kind === JobKind.Map) runMap(fn as MapFn, s, e, j);
      else (j.parts as Float64Array)[k] = runReduce(fn as ReduceFn, s, e, j); // P3: before DONE
      last = Atomics.add(ctl, DONE, 1) === chunks - 1;
    } catch (err) {
      if (Atomics.compareExchange(ctl, FAILED, 0, k + 1) === 0) Atomics.store(ctl, FAILED_BY, id);
      Atomics.store(ctl, STOP, 1);
      throw typeof j.body === 'string' ? err : closureError(err, 'the function given to a parallel call');
    }
    // A chunk ended: this task runs the whole call, but it is not stuck (pool health, unhealthyAfter).
    taskProgress(ctx);
    if (last && kind === JobKind.Reduce) {
      // Every chunk ran: a failing combine names no chunk (FAILED stays 0).
      try {
        result = combineAll(j, chunks, ctx);
      } catch (err) {
        Atomics.store(ctl, STOP, 1);
        const ref = j.combine ?? j.body;
        throw typeof ref === 'string' ? err : closureError(err, "parallelReduce's combine");
      }
    }
  }
}

registerBuiltinTask(PARALLEL_TASK, (input, ctx) => participate(input as ParticipantInput, ctx as TaskContext));
