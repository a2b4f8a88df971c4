// Crash recovery: a worker that exits, throws asynchronously or runs out of memory fails only the
// tasks it was running; everything else settles with its value and the pool keeps its size.
import { WorkerCrashedError, WorkerPool } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { rejection, sharedCounters, TASKS, until, within } from '../fixtures/pool-helpers.js';

let pool: WorkerPool | undefined;
afterEach(async () => {
  if (pool) await within(pool.close({ force: true }), 15_000, 'close');
  pool = undefined;
});

function make(opts: Partial<ConstructorParameters<typeof WorkerPool>[0]> = {}): WorkerPool {
  pool = new WorkerPool({ filename: TASKS, maxWorkers: 2, ...opts });
  return pool;
}

describe('worker crashes', () => {
  it('process.exit(3) in a fresh worker: WorkerCrashedError naming the worker and code 3', async () => {
    const pool = make({ maxWorkers: 1 });
    const id = pool.getHealthStatus()[0].workerId;
    const err = (await within(
      rejection(pool.submit(3, { fn: 'exit' })), 15_000,
      'crash',
    )) as WorkerCrashedError;
    expect(err).toBeInstanceOf(WorkerCrashedError);
    expect(err.name).toBe('WorkerCrashedError');
    expect(err.workerId).toBe(id);
    expect(err.exitCode).toBe(3);
    expect(err.message).toContain(`worker ${id}`);
    expect(err.message).toContain('3');
    await until(() => pool.getWorkerCount() === 1, 10_000);
    expect(pool.metrics().failed).toBe(1);
  });

  // Regression: the replacement of a crashed worker reuses its index and result ring; it used to
  // write from position 0 while the main thread's HEAD was past the dead worker's results.
  it('after a worker that had done work crashes, tasks on its replacement settle', async () => {
    const pool = make({ maxWorkers: 1 });
    expect(await pool.submit(1)).toBe(1);
    await rejection(pool.submit(3, { fn: 'exit' }));
    expect(await within(pool.submit(2, { fn: 'double' }), 15_000, 'task on the replacement')).toBe(4);
  });

  it('tasks queued behind a crash of a busy worker and on other workers all settle', async () => {
    const pool = make({ maxWorkers: 2, minWorkers: 2 });
    await Promise.all([pool.submit(0), pool.submit(0)]);
    const before = pool.getHealthStatus().map((h) => h.workerId);
    const tasks: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) tasks.push(pool.submit(5, { fn: 'spin' }).then(() => i));
    const crash = pool.submit(3, { fn: 'exit' });
    for (let i = 40; i < 80; i++) tasks.push(pool.submit(i, { fn: 'double' }).then((v) => (v as number) / 2));
    const err = (await within(rejection(crash), 15_000, 'crash')) as WorkerCrashedError;
    expect(err).toBeInstanceOf(WorkerCrashedError);
    expect(before).toContain(err.workerId);
    expect(await within(Promise.all(tasks), 15_000, 'other tasks')).toEqual(
      Array.from({ length: 80 }, (_, i) => i),
    );
    await until(() => pool.getWorkerCount() === 2, 10_000);
  });

  it('tasks queued behind a crash and on the other worker all settle; the pool keeps its size', async () => {
    // The crashing task is the first on a fresh worker.
    const pool = make({ maxWorkers: 2, minWorkers: 2 });
    const before = pool.getHealthStatus().map((h) => h.workerId);
    const crash = pool.submit(3, { fn: 'exit' });
    const tasks: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) tasks.push(pool.submit(5, { fn: 'spin' }).then(() => i));
    for (let i = 40; i < 80; i++) tasks.push(pool.submit(i, { fn: 'double' }).then((v) => (v as number) / 2));
    const err = (await within(rejection(crash), 15_000, 'crash')) as WorkerCrashedError;
    expect(err).toBeInstanceOf(WorkerCrashedError);
    expect(before).toContain(err.workerId);
    expect(await within(Promise.all(tasks), 15_000, 'other tasks')).toEqual(
      Array.from({ length: 80 }, (_, i) => i),
    );
    await until(() => pool.getWorkerCount() === 2, 10_000);
    expect(pool.getHealthStatus().map((h) => h.workerId)).not.toContain(err.workerId);
  });

  it('tasks queued behind a crash of a fresh worker and on other workers all settle', async () => {
    // The crashing task is the first on its (only) worker.
    const pool = make({ maxWorkers: 1 });
    const tasks: Promise<unknown>[] = [];
    const crash = pool.submit(3, { fn: 'exit' });
    for (let i = 0; i < 200; i++) tasks.push(pool.submit(i, { fn: 'double' }).then((v) => (v as number) / 2));
    expect(await within(rejection(crash), 15_000, 'crash')).toBeInstanceOf(WorkerCrashedError);
    expect(await within(Promise.all(tasks), 15_000, 'other tasks')).toEqual(
      Array.from({ length: 200 }, (_, i) => i),
    );
    expect(pool.getWorkerCount()).toBe(1);
    expect(pool.metrics()).toMatchObject({ completed: 200, failed: 1 });
  });

  it('a task that throws from a timer (uncaught, asynchronous) fails only itself', async () => {
    const pool = make({ maxWorkers: 2, minWorkers: 2 });
    // The throwing task goes first, on a fresh worker.
    const thrower = pool.submit(300, { fn: 'throwLater' });
    const others = Array.from({ length: 6 }, (_, i) => pool.submit(100, { fn: 'sleep' }).then(() => i));
    const err = (await within(rejection(thrower), 15_000, 'async throw')) as WorkerCrashedError;
    expect(err).toBeInstanceOf(WorkerCrashedError);
    expect(err.message).toContain('thrown from a timer');
    expect((err.cause as Error).message).toBe('thrown from a timer');
    expect(err.exitCode).toBe(1);
    expect(await within(Promise.all(others), 15_000, 'others')).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('a task that runs out of memory under resourceLimits fails only itself', async () => {
    const pool = make({
      maxWorkers: 2,
      minWorkers: 2,
      resourceLimits: { maxOldGenerationSizeMb: 24, maxYoungGenerationSizeMb: 4 },
    });
    const hog = pool.submit(null, { fn: 'oom' });
    const others = Array.from({ length: 6 }, (_, i) => pool.submit(50, { fn: 'sleep' }).then(() => i));
    const err = (await within(rejection(hog), 10_000, 'oom')) as WorkerCrashedError;
    expect(err).toBeInstanceOf(WorkerCrashedError);
    expect(`${err.message} ${String((err.cause as Error)?.message)}`).toMatch(/memory/i);
    expect(await within(Promise.all(others), 15_000, 'others')).toEqual([0, 1, 2, 3, 4, 5]);
    await until(() => pool.getWorkerCount() === 2, 10_000);
  });

  it('a crash with several async tasks in flight on one worker fails exactly those', async () => {
    const counters = sharedCounters(16);
    const pool = make({ maxWorkers: 1, concurrentTasksPerWorker: 4, workerData: { counters } });
    const inFlight = [1, 2, 3].map((id) => pool.submit({ id, ms: 5000 }, { fn: 'markThenSleep' }));
    await until(() => counters[1] + counters[2] + counters[3] === 3, 10_000);
    const crash = pool.submit(7, { fn: 'exit' });
    const settled = await within(Promise.allSettled([...inFlight, crash]), 15_000, 'in flight');
    for (const s of settled) {
      expect(s.status).toBe('rejected');
      expect((s as PromiseRejectedResult).reason).toBeInstanceOf(WorkerCrashedError);
      expect((s as PromiseRejectedResult).reason.exitCode).toBe(7);
    }
  });

  it('crash after crash (each on a fresh worker): every crash rejects, the pool recovers each time', async () => {
    const pool = make({ maxWorkers: 1 });
    const ids = new Set<number>();
    for (let i = 0; i < 5; i++) {
      const err = (await within(
        rejection(pool.submit(10 + i, { fn: 'exit' })), 15_000,
        `crash ${i}`,
      )) as WorkerCrashedError;
      expect(err.exitCode).toBe(10 + i);
      ids.add(err.workerId);
    }
    expect(ids.size).toBe(5);
    await until(() => pool.getWorkerCount() === 1, 10_000);
  });

  // Regression (fixed): a replacement worker's health counters start where the dead worker's ended: spawnWorker
  // resets W_MAIL, W_RETIRE and W_INFLIGHT of the reused index but not W_DONE / W_FAILED.
  it("a replacement worker's tasksDone starts at 0", async () => {
    const pool = make({ maxWorkers: 1 });
    // A large result travels by message (the result ring stays untouched).
    expect((await pool.submit<Uint8Array>(2_000_000, { fn: 'bytes' })).length).toBe(2_000_000);
    expect(pool.getHealthStatus()[0].tasksDone).toBe(1);
    await rejection(pool.submit(3, { fn: 'exit' }));
    await until(() => pool.getHealthStatus()[0]?.ready === true, 10_000);
    expect(pool.getHealthStatus()[0].tasksDone).toBe(0);
  });
});
