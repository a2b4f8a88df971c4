// Workers asked to leave (scaleDown, the size cap, recycling) while the pool is under load: they
// stop taking work from the rings and leave once their own tasks ended, and no task posted to one
// of them (a transfer list) is lost on the way out.
import { DynamicWorkerPool, FixedWorkerPool, WorkerPool } from 'skein';
import { workerLimit } from 'skein/internal';
import { describe, expect, it } from 'vitest';
import { sleep, TASKS, trackPools, until, within } from '../fixtures/pool-helpers.js';

const track = trackPools();

/** `n` callers submitting `sleep(5)` back to back until `stop()`; resolves once all stopped. */
function steadyLoad(pool: WorkerPool, n: number): { stop: () => Promise<void> } {
  let running = true;
  const callers = Array.from({ length: n }, async () => {
    while (running) await pool.submit(5, { fn: 'sleep' });
  });
  // A test that fails force-closes the pool under them: stop() is then never awaited.
  for (const c of callers) c.catch(() => {});
  return {
    stop: async () => {
      running = false;
      await Promise.all(callers);
    },
  };
}

const ids = (pool: WorkerPool): number[] => pool.getHealthStatus().map((h) => h.workerId);

describe('a worker asked to leave while it always has a task in flight (concurrentTasksPerWorker > 1)', () => {
  // Before, it went on claiming from the rings while any of its tasks ran, so under steady load it
  // never left: scaleDown and the cap did nothing (3 s and more).
  it('scaleDown(1): it leaves', async () => {
    const pool = track(new WorkerPool({ filename: TASKS, minWorkers: 2, maxWorkers: 2, concurrentTasksPerWorker: 4 }));
    const load = steadyLoad(pool, 24);
    await until(() => pool.getHealthStatus().filter((h) => h.busy).length === 2, 5000, 'both workers busy');
    const before = ids(pool);
    pool.scaleDown(1);
    await until(() => before.some((id) => !ids(pool).includes(id)), 3000, 'a worker to leave');
    await load.stop();
  });

  it('a cap of 1 (protective mode): the pool comes down to one worker', async () => {
    const pool = track(new WorkerPool({ filename: TASKS, minWorkers: 2, maxWorkers: 2, concurrentTasksPerWorker: 4 }));
    const load = steadyLoad(pool, 24);
    await until(() => pool.getHealthStatus().filter((h) => h.busy).length === 2, 5000, 'both workers busy');
    workerLimit(pool).set(1);
    await until(() => pool.getWorkerCount() === 1, 3000, 'one worker');
    await load.stop();
  });
});

describe('tasks with a transfer list on a recycling pool', () => {
  // Before, a task posted to a worker that had reached maxTasksPerWorker but whose 'recycle' message
  // the main thread had not read yet was left in its mailbox as it exited: WorkerCrashedError
  // 'worker N exited with code 0', for a task that never ran (about 1 in 10).
  it('all run (maxTasksPerWorker, concurrency 1 and 3)', async () => {
    for (const concurrentTasksPerWorker of [1, 3]) {
      const pool = track(new FixedWorkerPool(2, { filename: TASKS, maxTasksPerWorker: 5, concurrentTasksPerWorker }));
      const all = Array.from({ length: 150 }, (_, i) => {
        const buf = new Uint8Array([i, 1]).buffer;
        return pool.submit(buf, { fn: 'sum', transfer: [buf] });
      });
      const out = await within(Promise.allSettled(all), 30_000, 'the tasks');
      const failed = out.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
      expect(failed).toEqual([]);
      expect(out.map((r) => (r as PromiseFulfilledResult<number>).value)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
      await within(pool.close(), 5000, 'close');
    }
  });
});

describe('a burst while idle workers are leaving', () => {
  // Before, workers that left on purpose were replaced only when none was left, so a burst that came
  // while both idle workers of a DynamicWorkerPool (maxWorkers 2) ran their teardown (they still
  // counted against maxWorkers, so it could not grow) ran on one worker, at half speed.
  it('the pool grows back to maxWorkers as they exit', async () => {
    const filename = new URL('../fixtures/pool-teardown-slow.mjs', import.meta.url);
    const pool = track(new DynamicWorkerPool({ filename, maxWorkers: 2, idleTimeout: 50 }));
    await Promise.all([pool.submit(100, { fn: 'sleep' }), pool.submit(100, { fn: 'sleep' })]);
    expect(pool.getWorkerCount()).toBe(2);
    await sleep(150); // both idle past 50 ms: asked to leave, in their 300 ms teardown
    const ids = await within(
      Promise.all(Array.from({ length: 10 }, () => pool.submit<number>(100, { fn: 'sleep' }))),
      10_000,
      'the burst',
    );
    // Two workers at least (one before the fix). A loaded CI run saw three ids: with a 50 ms
    // idleTimeout, which workers leave and join around the burst depends on timing.
    expect(new Set(ids).size).toBeGreaterThanOrEqual(2);
  });
});
