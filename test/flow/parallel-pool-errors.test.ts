// A parallel call the pool refuses rejects with the pool's own error, as pool.submit does: a closed
// pool with PoolClosedError, an arg that cannot be copied with SerializationError, a pool whose
// workers cannot start with their error. They came wrapped in a ParallelError ('parallelFor failed:
// the pool is closed'), a class that means the loop's function threw or a worker died, so
// `err instanceof PoolClosedError` was false. A chunk that throws, or a worker that dies, still
// gives ParallelError (test/flow/parallel.test.ts).
import {
  FixedWorkerPool,
  ParallelError,
  PoolClosedError,
  parallelFor,
  parallelMap,
  parallelReduce,
  SerializationError,
  WorkerPool,
  WorkerSetupError,
} from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { rejection, sharedCounters, until, within } from '../fixtures/pool-helpers.js';

const TASKS = new URL('../fixtures/parallel-tasks.mjs', import.meta.url);
const SETUP_FAILS = new URL('../fixtures/pool-setup-fail.mjs', import.meta.url);

let pool: WorkerPool | undefined;
afterEach(async () => {
  if (pool) await within(pool.close({ force: true }), 5000, 'close');
  pool = undefined;
});

const shared = (n: number): Float64Array => new Float64Array(new SharedArrayBuffer(8 * n));

describe('a parallel call the pool refuses', () => {
  it('on a closed pool: PoolClosedError itself, from parallelFor, parallelMap and parallelReduce', async () => {
    const p = (pool = new FixedWorkerPool(2, { filename: TASKS }));
    await p.close();
    for (const call of [
      parallelFor(100, 'visit', { pool: p, arg: sharedCounters(100) }),
      parallelMap(shared(100), 'square', { pool: p }),
      parallelReduce(100, 'add', { pool: p }),
    ]) {
      const err = await rejection(call);
      expect(err).toBeInstanceOf(PoolClosedError);
      expect(err).not.toBeInstanceOf(ParallelError);
    }
  });

  it('closed with force while it runs: PoolClosedError itself', async () => {
    const p = (pool = new FixedWorkerPool(2, { filename: TASKS }));
    const ran = sharedCounters(1);
    const call = rejection(parallelFor(1000, 'slow', { pool: p, chunk: 1, arg: { ms: 20, ran } }));
    await until(() => Atomics.load(ran, 0) > 0, 5000, 'a chunk to run');
    await within(p.close({ force: true }), 5000, 'force close');
    const err = await within(call, 5000, 'the call');
    expect(err).toBeInstanceOf(PoolClosedError);
  });

  it('an arg that cannot be copied: SerializationError itself, naming the spot', async () => {
    const p = (pool = new FixedWorkerPool(1, { filename: TASKS }));
    const err = await rejection(parallelFor(10, 'visit', { pool: p, arg: { counts: sharedCounters(10), f: () => 1 } }));
    expect(err).toBeInstanceOf(SerializationError);
    expect(err.message).toContain('arg.f');
    // The pool is untouched.
    const counts = sharedCounters(10);
    await parallelFor(10, 'visit', { pool: p, arg: counts });
    expect(Array.from(counts)).toEqual(Array(10).fill(1));
  });

  it("a pool whose task module's setup() fails: WorkerSetupError itself", async () => {
    const p = (pool = new WorkerPool({ filename: SETUP_FAILS, maxWorkers: 1, workerData: { counters: sharedCounters(1) } }));
    const err = await within(rejection(parallelFor(10, (s: number, e: number) => void (e - s), { pool: p })), 10_000, 'the call');
    expect(err).toBeInstanceOf(WorkerSetupError);
    expect((err.cause as Error).message).toBe('no database');
  });
});
