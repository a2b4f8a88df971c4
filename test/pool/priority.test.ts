// Priorities 1..10: higher first, FIFO within one priority, checked by the order a single worker
// runs tasks (each task takes a ticket from a shared counter as it starts).
import { InvalidArgumentError, WorkerPool } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { sharedCounters, TASKS, until } from '../fixtures/pool-helpers.js';

let pool: WorkerPool | undefined;
afterEach(async () => {
  await pool?.close({ force: true });
  pool = undefined;
});

/** A one-worker pool whose worker is ready, plus its counters (slot 0: run sequence). */
async function oneWorker(n = 64): Promise<{ pool: WorkerPool; counters: Int32Array }> {
  const counters = sharedCounters(n);
  pool = new WorkerPool({ filename: TASKS, maxWorkers: 1, workerData: { counters } });
  await pool.submit(0);
  return { pool, counters };
}

describe('priority', () => {
  it('runs higher priorities first and FIFO within a priority', async () => {
    const { pool, counters } = await oneWorker();
    // Block the only worker, then queue lows and highs in one synchronous block.
    const blocker = pool.submit(300, { fn: 'spin' });
    await until(() => pool.metrics().busy === 1, 10_000);
    const plan: [id: number, priority: number][] = [
      [0, 1],
      [1, 1],
      [2, 5],
      [3, 10],
      [4, 1],
      [5, 5],
      [6, 10],
      [7, 3],
      [8, 9],
      [9, 2],
    ];
    const runs = plan.map(([id, priority]) => pool.submit<number>(id, { fn: 'order', priority }));
    await blocker;
    const seq = await Promise.all(runs);
    const ranOrder = plan
      .map(([id], k) => [seq[k], id])
      .sort((a, b) => a[0] - b[0])
      .map(([, id]) => id);
    const expected = [...plan].sort((a, b) => b[1] - a[1] || a[0] - b[0]).map(([id]) => id);
    expect(ranOrder).toEqual(expected); // [3, 6, 8, 2, 5, 7, 9, 0, 1, 4]
    for (let i = 0; i < plan.length; i++) expect(counters[1 + i]).toBe(1);
  });

  it('a high-priority task overtakes a long queue of default ones', async () => {
    const { pool, counters } = await oneWorker(600);
    const blocker = pool.submit(150, { fn: 'spin' });
    await until(() => pool.metrics().busy === 1, 10_000);
    const lows = Array.from({ length: 500 }, (_, i) => pool.submit<number>(i, { fn: 'order' }));
    const high = pool.submit<number>(500, { fn: 'order', priority: 10 });
    await blocker;
    const highSeq = await high;
    const lowSeq = await Promise.all(lows);
    // Tasks already handed to the worker's batch may go first; the high one must beat nearly all.
    expect(highSeq).toBeLessThan(5);
    // FIFO among the lows.
    for (let i = 1; i < lowSeq.length; i++) expect(lowSeq[i]).toBeGreaterThan(lowSeq[i - 1]);
    expect(counters[1 + 500]).toBe(1);
  });

  it('priority outside 1..10 or not an integer is InvalidArgumentError at submit', async () => {
    pool = new WorkerPool({ filename: TASKS, maxWorkers: 1 });
    for (const priority of [11, 0, 1.5, -1, Number.NaN, '5' as unknown as number]) {
      await expect(pool.submit(1, { priority }), String(priority)).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
    }
    await expect(pool.submit(1, { priority: 11 })).rejects.toThrow(/priority/);
    await expect(pool.submitBatch([1, 2], { priority: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await pool.submit(1, { priority: 1 })).toBe(1);
    expect(await pool.submit(2, { priority: 10 })).toBe(2);
    expect(pool.metrics().completed).toBe(2);
  });

  it('bad submit options are InvalidArgumentError: timeout, signal, transfer, fn', async () => {
    pool = new WorkerPool({ filename: TASKS, maxWorkers: 1 });
    await expect(pool.submit(1, { timeout: -5 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(pool.submit(1, { signal: {} as AbortSignal })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(pool.submit(1, { transfer: 'x' as never })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(pool.submit(1, { fn: 5 as never })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("piscina's option names (name, transferList, filename) are InvalidArgumentError naming ours, not silently ignored", async () => {
    pool = new WorkerPool({ filename: TASKS, maxWorkers: 1 });
    // Before, run(2, { name: 'double' }) resolved 2: it ran the default export (echo), not double.
    const byName = await pool.run(2, { name: 'double' } as never).catch((e: unknown) => e);
    expect(byName).toBeInstanceOf(InvalidArgumentError);
    expect((byName as Error).message).toMatch(/fn/);
    const buf = new ArrayBuffer(8);
    const byList = await pool.submit(buf, { transferList: [buf] } as never).catch((e: unknown) => e);
    expect(byList).toBeInstanceOf(InvalidArgumentError);
    expect((byList as Error).message).toMatch(/transfer/);
    expect(buf.byteLength).toBe(8); // nothing was sent
    await expect(pool.submit(1, { filename: TASKS.href } as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    // An own key left undefined is no mistake, and ours still work.
    expect(await pool.run(2, { fn: 'double', name: undefined } as never)).toBe(4);
  });
});
