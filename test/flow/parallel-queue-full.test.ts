// A participant that the pool refuses (QueueFullError under maxQueue) only means less parallelism:
// the others claim every chunk. It failed the whole call with ParallelError, even with no chunk run
// (maxQueue: 0 on a pool of 2 with one worker busy). Only a call whose every participant is refused
// fails, since then nothing would run its chunks, and it fails with the pool's QueueFullError itself,
// as pool.submit does (it came as a ParallelError caused by it, a class that means a chunk failed).
import { FixedWorkerPool, ParallelError, QueueFullError, parallelFor, parallelMap, parallelReduce } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { rejection, until, within } from '../fixtures/pool-helpers.js';

const TASKS = new URL('../fixtures/parallel-tasks.mjs', import.meta.url);
let pool: FixedWorkerPool | undefined;
afterEach(async () => {
  await within(pool?.close({ force: true }) ?? Promise.resolve(), 5000, 'close');
  pool = undefined;
});

/** A pool of 2 with `maxQueue: 0` whose first worker runs a task for `ms`. */
async function halfBusy(ms: number): Promise<{ pool: FixedWorkerPool; busy: Promise<unknown> }> {
  const p = new FixedWorkerPool(2, { filename: TASKS, maxQueue: 0 });
  await until(() => p.getHealthStatus().filter((w) => w.ready).length === 2, 5000, 'workers up');
  const busy = p.submit(ms, { fn: 'block' });
  busy.catch(() => {}); // awaited by the test; closed with force if the test fails first
  await until(() => p.getHealthStatus().filter((w) => w.busy).length === 1, 5000, 'one worker busy');
  return { pool: p, busy };
}

describe('a participant refused by a full queue', () => {
  it('leaves its chunks to the others: every index runs once', async () => {
    const h = await halfBusy(400);
    pool = h.pool;
    const counts = new Int32Array(new SharedArrayBuffer(4 * 1000));
    await parallelFor(1000, 'visit', { pool, chunk: 10, parallelism: 2, arg: counts });
    expect(counts.every((c) => c === 1)).toBe(true);
    const a = new Float64Array(new SharedArrayBuffer(8 * 100));
    a.forEach((_, i) => (a[i] = i));
    const out = await parallelMap(a, 'square', { pool, chunk: 7, parallelism: 2 });
    expect(Array.from(out)).toEqual(Array.from(a, (x) => x * x));
    expect(await parallelReduce(100, 'add', { pool, chunk: 9, parallelism: 2 })).toBe(4950);
    await h.busy;
  });

  it('fails the call when every participant is refused', async () => {
    const h = await halfBusy(400);
    pool = h.pool;
    const other = pool.submit(400, { fn: 'block' });
    await until(() => h.pool.getHealthStatus().filter((w) => w.busy).length === 2, 5000, 'both workers busy');
    const counts = new Int32Array(new SharedArrayBuffer(400));
    const err = await rejection(parallelFor(100, 'visit', { pool, parallelism: 2, arg: counts }));
    expect(err).toBeInstanceOf(QueueFullError);
    expect(err).not.toBeInstanceOf(ParallelError);
    expect(counts.every((c) => c === 0)).toBe(true);
    await Promise.all([h.busy, other]);
  });
});
