// A task's time limit counts the worker's time, not the main thread's (issue 17): a task that
// finished in time keeps its value even when the main thread reads the result late.
import { TimeoutError, WorkerPool } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { TASKS, within } from '../fixtures/pool-helpers.js';

let pool: WorkerPool | undefined;
afterEach(async () => {
  if (pool) await within(pool.close({ force: true }), 5000, 'close');
  pool = undefined;
});

/** Blocks the main thread for `ms` (a busy event loop: a long parse, a sync render). */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

describe('timeout and a busy main thread', () => {
  it('tasks that finished within their limit are not timed out while the main thread was busy', async () => {
    pool = new WorkerPool({ filename: TASKS, maxWorkers: 2 });
    const p = pool;
    await Promise.all([p.submit(0), p.submit(0)]); // both workers up
    for (let round = 0; round < 4; round++) {
      // The limit is wall time from the task's start in its worker, so it has room for a loaded
      // machine not scheduling that worker for a while; the main thread stays busy well past it.
      const tasks = Array.from({ length: 20 }, (_, i) => p.submit(i, { fn: 'double', timeout: 150 }));
      await new Promise((r) => setImmediate(r)); // the tasks are published and start
      busy(400); // meanwhile the workers finish them in microseconds
      const out = await Promise.allSettled(tasks);
      const timedOut = out.filter((o) => o.status === 'rejected' && o.reason instanceof TimeoutError);
      expect(timedOut.length, `round ${round}`).toBe(0);
      expect(out.map((o) => (o.status === 'fulfilled' ? o.value : o.reason))).toEqual(
        Array.from({ length: 20 }, (_, i) => 2 * i),
      );
    }
  });

  it('a task that really overruns its limit still times out', async () => {
    pool = new WorkerPool({ filename: TASKS, maxWorkers: 1 });
    await pool.submit(0);
    const slow = pool.submit(200, { fn: 'spin', timeout: 20 }).catch((e: unknown) => e);
    busy(60);
    expect(await slow).toBeInstanceOf(TimeoutError);
  });
});
