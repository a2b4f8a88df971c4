// AbortSignal and time limits. Side effects go into a SharedArrayBuffer given to the workers as
// `workerData`, so "the task never ran" is observed, not assumed.
import { AbortError, TimeoutError, WorkerPool } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { rejection, sharedCounters, sleep, TASKS, until, within } from '../fixtures/pool-helpers.js';

let pool: WorkerPool | undefined;
afterEach(async () => {
  if (pool) await within(pool.close({ force: true }), 5000, 'close');
  pool = undefined;
});

function make(opts: Partial<ConstructorParameters<typeof WorkerPool>[0]> = {}): {
  pool: WorkerPool;
  counters: Int32Array;
} {
  const counters = sharedCounters(64);
  pool = new WorkerPool({ filename: TASKS, maxWorkers: 1, workerData: { counters }, ...opts });
  return { pool, counters };
}

const workerIds = (p: WorkerPool): number[] => p.getHealthStatus().map((h) => h.workerId);

describe('AbortSignal', () => {
  it('a queued task (in the shared rings) that is aborted never runs and rejects AbortError', async () => {
    const { pool, counters } = make();
    await pool.submit(0);
    // Long enough to still be running at the abort below however slow the machine: once it ends,
    // the worker would claim the queued task before the abort could take it back.
    const blocker = pool.submit(1000, { fn: 'spin' });
    await until(() => pool.metrics().busy === 1, 10_000);
    const ac = new AbortController();
    const reason = new Error('user went away');
    const queued = pool.submit(5, { fn: 'mark', signal: ac.signal });
    const kept = pool.submit(6, { fn: 'mark' });
    await sleep(20);
    ac.abort(reason);
    const err = await within(rejection(queued), 500, 'abort of a queued task');
    expect(err).toBeInstanceOf(AbortError);
    expect(err.cause).toBe(reason);
    expect(await blocker).toBe(1000);
    expect(await kept).toBe(6);
    await pool.submit(7, { fn: 'mark' });
    expect(counters[5]).toBe(0);
    expect(counters[6]).toBe(1);
    expect(counters[7]).toBe(1);
  });

  it('a task waiting in the main-thread queue (no free slot) that is aborted never runs', async () => {
    const { pool, counters } = make({ maxInFlight: 1 });
    await pool.submit(0);
    const blocker = pool.submit(200, { fn: 'spin' });
    await until(() => pool.metrics().busy === 1, 10_000);
    const acs = Array.from({ length: 5 }, () => new AbortController());
    const tasks = acs.map((ac, i) => pool.submit(10 + i, { fn: 'mark', signal: ac.signal }));
    expect(pool.getQueueLength()).toBe(5);
    acs[1].abort();
    acs[3].abort();
    expect(pool.getQueueLength()).toBe(3);
    const settled = await Promise.allSettled(tasks);
    await blocker;
    expect(settled.map((s) => s.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    expect((settled[1] as PromiseRejectedResult).reason).toBeInstanceOf(AbortError);
    expect([...counters.subarray(10, 15)]).toEqual([1, 0, 1, 0, 1]);
  });

  it('an already-aborted signal rejects at once and the task never runs', async () => {
    const { pool, counters } = make();
    const reason = new Error('too late');
    const err = await within(
      rejection(pool.submit(3, { fn: 'mark', signal: AbortSignal.abort(reason) })),
      100,
      'reject',
    );
    expect(err).toBeInstanceOf(AbortError);
    expect(err.cause).toBe(reason);
    await pool.submit(4, { fn: 'mark' });
    expect(counters[3]).toBe(0);
    expect(counters[4]).toBe(1);
  });

  it('a running async task sees ctx.signal abort; the caller gets AbortError at once', async () => {
    const { pool, counters } = make();
    const ac = new AbortController();
    const running = pool.submit({ id: 9, ms: 5000 }, { fn: 'waitForAbort', signal: ac.signal });
    await until(() => counters[9] === 1, 10_000);
    const t0 = Date.now();
    ac.abort();
    const err = await rejection(running);
    expect(err).toBeInstanceOf(AbortError);
    expect(Date.now() - t0).toBeLessThan(2500); // generous: the task alone would run 5 s
    // The task itself saw the signal (2 = aborted), and the worker stays (it gave the task up).
    await until(() => counters[9] === 2, 10_000);
    const ids = workerIds(pool);
    expect(await pool.submit(21, { fn: 'double' })).toBe(42);
    await sleep(250);
    expect(workerIds(pool)).toEqual(ids);
  });

  it('a running synchronous task that is aborted: rejects at once; its worker is replaced after the grace', async () => {
    const { pool } = make({ killGrace: 50 });
    const ac = new AbortController();
    const stuck = pool.submit(null, { fn: 'forever', signal: ac.signal });
    await until(() => pool.metrics().busy === 1, 10_000);
    const before = workerIds(pool);
    ac.abort();
    expect(await within(rejection(stuck), 2500, 'abort of a stuck task')).toBeInstanceOf(AbortError);
    await until(() => workerIds(pool).length === 1 && workerIds(pool)[0] !== before[0], 10_000);
    // The replacement was spawned, not necessarily booted: its boot counts here.
    expect(await within(pool.submit(4, { fn: 'double' }), 15_000, 'task after abort')).toBe(8);
  });

  // Regression: the kill used to wait for the sweep's idle period (~1 s), not killGrace.
  it('an aborted stuck worker is terminated about killGrace ms later', async () => {
    const { pool } = make({ killGrace: 50 });
    const ac = new AbortController();
    const stuck = pool.submit(null, { fn: 'forever', signal: ac.signal });
    await until(() => pool.metrics().busy === 1, 10_000);
    const before = workerIds(pool)[0];
    const t0 = Date.now();
    ac.abort();
    await rejection(stuck);
    await until(() => workerIds(pool)[0] !== before, 10_000);
    // Generous for a loaded machine, yet short of the ~1 s sweep period the regression waited for.
    expect(Date.now() - t0).toBeLessThan(50 + 800);
  });

  // Regression (fixed): a worker's kill deadline (killAt) is armed by the first abort and never cleared when the
  // aborted task gives up, so a later abort on the same worker gets no grace at all: the worker is
  // terminated while a well-behaved async task is still giving up, and the unrelated task running
  // beside it (concurrentTasksPerWorker > 1) fails with WorkerCrashedError. Found by the property test.
  it('a second abort on a worker gets its own kill grace; tasks beside it are not killed', async () => {
    const { pool, counters } = make({ concurrentTasksPerWorker: 2, killGrace: 600, idleTimeout: 400 });
    // The aborted tasks return their (large) results by message: the result ring stays untouched.
    const ac1 = new AbortController();
    const first = pool.submit({ id: 1, ms: 5000 }, { fn: 'bigAfterAbort', signal: ac1.signal });
    await until(() => counters[1] === 1, 10_000);
    ac1.abort(); // arms killAt = now + 600; the task gives up at once
    expect(await rejection(first)).toBeInstanceOf(AbortError);
    await until(() => counters[1] === 2, 10_000);
    await sleep(400);
    const ac2 = new AbortController();
    const second = rejection(pool.submit({ id: 2, ms: 5000 }, { fn: 'bigAfterAbort', signal: ac2.signal }));
    await until(() => counters[2] === 1, 10_000);
    const beside = pool.submit(300, { fn: 'spin' }); // blocks the worker's event loop for 300 ms
    await sleep(20);
    ac2.abort(); // its grace should run to now + 600, well after the spin ends
    expect(await second).toBeInstanceOf(AbortError);
    expect(await within(beside, 3000, 'the task beside the aborted one')).toBe(300);
  });

  // Regression: a replacement worker at a reused index wrote its results from ring position 0
  // while the main thread's HEAD was past the dead worker's results: they were never read.
  it('after a stuck task is aborted and its worker replaced, the next task settles', async () => {
    const { pool } = make({ killGrace: 50 });
    await pool.submit(0); // the worker writes one result before it gets stuck
    const ac = new AbortController();
    const stuck = pool.submit(null, { fn: 'forever', signal: ac.signal });
    await until(() => pool.metrics().busy === 1, 10_000);
    ac.abort();
    await rejection(stuck);
    // Runs on the replacement: its boot counts here.
    expect(await within(pool.submit(4, { fn: 'double' }), 15_000, 'task after abort')).toBe(8);
  });

  it('aborting after the task settled changes nothing', async () => {
    const { pool } = make();
    const ac = new AbortController();
    expect(await pool.submit(2, { fn: 'double', signal: ac.signal })).toBe(4);
    ac.abort();
    expect(await pool.submit(3, { fn: 'double', signal: ac.signal }).catch((e) => e)).toBeInstanceOf(
      AbortError,
    );
    expect(pool.metrics().completed).toBe(1);
  });
});

describe('timeouts', () => {
  it('per-task timeout: a synchronous endless loop rejects TimeoutError and its worker is replaced', async () => {
    const { pool } = make({ maxWorkers: 2, minWorkers: 2 });
    const before = workerIds(pool);
    const t0 = Date.now();
    // A fresh pool: the two workers' boot counts here.
    const err = await within(rejection(pool.submit(null, { fn: 'forever', timeout: 200 })), 15_000, 'timeout');
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err.message).toContain('200');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    // The other worker keeps serving meanwhile.
    const out = await within(
      Promise.all(Array.from({ length: 10 }, (_, i) => pool.submit(i, { fn: 'double' }))),
      3000,
      'after',
    );
    expect(out).toEqual(Array.from({ length: 10 }, (_, i) => i * 2));
    const replaced = () => workerIds(pool).filter((id) => !before.includes(id)).length === 1;
    await until(() => replaced() && pool.getWorkerCount() === 2, 10_000);
    expect(pool.metrics().failed).toBe(1);
  });

  // Regression: same result-ring reuse as above, after a timeout.
  it('after a timeout replaced a worker that had done work, later tasks on the replacement settle', async () => {
    const { pool } = make();
    expect(await pool.submit(1)).toBe(1);
    await rejection(pool.submit(null, { fn: 'forever', timeout: 100 }));
    const out = await within(
      Promise.all([1, 2, 3].map((i) => pool.submit(i, { fn: 'double' }))),
      15_000, // they run on the replacement: its boot counts here
      'after timeout',
    );
    expect(out).toEqual([2, 4, 6]);
  });

  it("pool taskTimeout applies to every task; a task's own timeout overrides it; 0 means none", async () => {
    const { pool } = make({ taskTimeout: 150, killGrace: 20 });
    expect(await rejection(pool.submit(null, { fn: 'forever' }))).toBeInstanceOf(TimeoutError);
    expect(await pool.submit(5, { fn: 'double' })).toBe(10);
    expect(await pool.submit(400, { fn: 'spin', timeout: 2000 })).toBe(400);
    expect(await pool.submit(400, { fn: 'spin', timeout: 0 })).toBe(400);
    expect(await rejection(pool.submit(1000, { fn: 'sleep' }))).toBeInstanceOf(TimeoutError);
  });

  it('a timeout counts run time, not time waiting in the queue', async () => {
    const { pool } = make();
    await pool.submit(0);
    const blocker = pool.submit(400, { fn: 'spin' });
    const waiting = pool.submit(20, { fn: 'spin', timeout: 250 });
    expect(await blocker).toBe(400);
    expect(await waiting).toBe(20);
  });

  it('an async task past its timeout sees ctx.signal abort and keeps its worker', async () => {
    const { pool, counters } = make();
    await pool.submit(0);
    const ids = workerIds(pool);
    const err = await rejection(pool.submit({ id: 12, ms: 5000 }, { fn: 'waitForAbort', timeout: 100 }));
    expect(err).toBeInstanceOf(TimeoutError);
    await until(() => counters[12] === 2, 10_000);
    await sleep(200);
    expect(workerIds(pool)).toEqual(ids);
  });

  it("ctx.signal's reason says why: a TimeoutError past the time limit, an AbortError on the caller's abort (both were AbortError)", async () => {
    const { pool, counters } = make();
    await pool.submit(0);
    expect(await rejection(pool.submit({ id: 20 }, { fn: 'abortReason', timeout: 50 }))).toBeInstanceOf(TimeoutError);
    await until(() => counters[20] > 1, 10_000);
    expect(counters[20]).toBe(4);
    const ac = new AbortController();
    const aborted = pool.submit({ id: 21 }, { fn: 'abortReason', signal: ac.signal });
    // Abort once it runs: aborted before its start, the task never runs (a loaded CI box took >50 ms).
    await until(() => counters[21] === 1, 10_000);
    ac.abort();
    await rejection(aborted);
    await until(() => counters[21] > 1, 10_000);
    expect(counters[21]).toBe(5);
  });

  it('a timed-out task rejects close to its limit (not a sweep period later)', async () => {
    const { pool } = make();
    await pool.submit(0);
    const t0 = Date.now();
    await rejection(pool.submit(null, { fn: 'forever', timeout: 100 }));
    // Generous for a loaded machine, yet short of the ~1 s sweep period the regression waited for.
    expect(Date.now() - t0).toBeLessThan(100 + 800);
  });
});
