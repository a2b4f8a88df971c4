// A parallel call's participant is one pool task that runs chunk after chunk for the whole call, so
// a call longer than `unhealthyAfter` (default 30 s) made its workers read as stuck: getHealthStatus()
// said unhealthy (and serveMetrics' /health 503), and restartUnhealthyWorkers(), a user's watchdog,
// terminated them and failed a call that was making progress. A chunk that ends is progress: the
// participant refreshes its task's liveness, and only a task that stops making progress (one chunk,
// or a plain task, running past the limit) is stuck.
import { FixedWorkerPool, ParallelError, parallelFor, parallelReduce, type WorkerPool } from 'skein';
import { describe, expect, it } from 'vitest';
import { rejection, sleep, trackPools, until, within } from '../fixtures/pool-helpers.js';

const TASKS = new URL('../fixtures/parallel-tasks.mjs', import.meta.url);
const track = trackPools();
// A 20 ms chunk ends (progress) well within this even on a loaded machine (a 580 ms stall to fail
// it); without the progress, a participant runs the whole call (>= 1.5 s) as one task, well past it.
const LIMIT = 600;

function healthPool(): FixedWorkerPool {
  return track(new FixedWorkerPool(2, { filename: TASKS, unhealthyAfter: LIMIT }));
}

/** Watches `pool` every 25 ms while `call` runs: unhealthy readings, and restarts asked for past the limit. */
async function watch(pool: WorkerPool, call: Promise<unknown>): Promise<{ unhealthy: number; restarted: number; looks: number }> {
  let running = true;
  void call.then(
    () => (running = false),
    () => (running = false),
  );
  const t0 = Date.now();
  let unhealthy = 0;
  let restarted = 0;
  let looks = 0;
  while (running) {
    await sleep(25);
    if (!running) break;
    looks++;
    unhealthy += pool.getHealthStatus().filter((h) => !h.healthy).length;
    if (Date.now() - t0 > 2 * LIMIT) restarted += await pool.restartUnhealthyWorkers();
  }
  return { unhealthy, restarted, looks };
}

describe('a long parallel call that makes progress is not stuck', () => {
  it('parallelFor: ~1.5 s of 20 ms chunks under unhealthyAfter 600 ms stays healthy, nothing restarted', async () => {
    const pool = healthPool();
    await until(() => pool.getHealthStatus().filter((h) => h.ready).length === 2, 10_000, 'two ready workers');
    const ran = new Int32Array(new SharedArrayBuffer(4));
    const call = parallelFor(150, 'slow', { pool, chunk: 1, arg: { ms: 20, ran } });
    const seen = await watch(pool, call);
    await within(call, 20_000, 'the call');
    expect(Atomics.load(ran, 0)).toBe(150);
    expect(seen.looks).toBeGreaterThan(10); // it was watched (and ran past the limit: runTime below)
    expect(seen).toMatchObject({ unhealthy: 0, restarted: 0 });
    // Liveness is not run time: each participant's task still ran for the whole call.
    expect(pool.metrics().runTime.max).toBeGreaterThan(2 * LIMIT);
  });

  it('parallelReduce: a slow fold in many chunks, its reducer also the combine (99 slow steps at the end), stays healthy', async () => {
    const pool = healthPool();
    const ran = new Int32Array(new SharedArrayBuffer(4));
    const call = parallelReduce(100, 'slowAdd', { pool, chunk: 1, arg: { ms: 20, ran } });
    const seen = await watch(pool, call);
    expect(await within(call, 20_000, 'the call')).toBe((99 * 100) / 2);
    expect(seen).toMatchObject({ unhealthy: 0, restarted: 0 });
  });
});

describe('a task that makes no progress is still stuck', () => {
  it('one synchronous chunk past the limit reads unhealthy and is restarted (the call fails)', async () => {
    const pool = healthPool();
    const ran = new Int32Array(new SharedArrayBuffer(4));
    const call = parallelFor(2, 'slow', { pool, chunk: 1, arg: { ms: 3000, ran } });
    call.catch(() => {}); // awaited below
    await until(() => pool.getHealthStatus().some((h) => !h.healthy), 10_000, 'a worker to read unhealthy');
    expect(await pool.restartUnhealthyWorkers()).toBeGreaterThan(0);
    expect(await rejection(within(call, 5000, 'the call'))).toBeInstanceOf(ParallelError);
  });

  it('a plain task past the limit reads unhealthy', async () => {
    const pool = healthPool();
    const task = pool.submit(3000, { fn: 'block' });
    await until(() => pool.getHealthStatus().some((h) => !h.healthy), 10_000, 'a worker to read unhealthy');
    expect(pool.getHealthStatus().filter((h) => !h.healthy)).toHaveLength(1);
    expect(await within(task, 10_000, 'the task')).toBe(3000);
    expect(pool.getHealthStatus().every((h) => h.healthy)).toBe(true);
  });
});
