// A task's time limit counts the worker's time, not the main thread's (issue 17): a task that
// finished in time keeps its value even when the main thread reads the result late.
import { TimeoutError, WorkerPool } from 'skein';
import { Step, StepGate } from 'skein/internal';
import { afterEach, describe, expect, it } from 'vitest';
import { sleep, TASKS, within } from '../fixtures/pool-helpers.js';

const GATED = new URL('../fixtures/pool-step-gate.mjs', import.meta.url);

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

  it('a worker preempted just as its task starts does not time it out by the slot\'s old start time', async () => {
    // The slot's previous task started long ago. The new one's worker is paused (StepGate) right
    // after making it RUNNING: the sweeps meanwhile must measure from the new task's start. They
    // measured from the old one (a false TimeoutError, seen once in CI) while the start time was
    // stored after that CAS.
    pool = new WorkerPool({ filename: GATED, maxWorkers: 1 });
    const gate = new StepGate();
    expect(await pool.submit(gate.sab, { fn: 'installGate' })).toBe(true);
    expect(await pool.submit(1, { fn: 'double' })).toBe(2);
    await sleep(400); // every slot's last start is now 400 ms old, past the limit below
    gate.arm(Step.PoolTaskRunning);
    const task = pool.submit(21, { fn: 'double', timeout: 300 });
    await sleep(0); // published
    gate.awaitPause(10_000);
    await sleep(100); // sweeps run every ~75 ms at most while a 300 ms limit is armed
    gate.release();
    expect(await task).toBe(42);
  });
});

