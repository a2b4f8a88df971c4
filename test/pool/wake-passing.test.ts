// Dispatch wakes as many sleeping workers as it publishes tasks (a counted notify on the task word,
// memory/wait/word.ts invariant 6). A worker that would not claim what it is woken for (one running
// as many tasks as it may, one recycling, one asked to leave with a task still running) must not be
// among those sleepers: it took the wake-up, claimed nothing and slept again, and the task waited for
// another worker's timed re-check (up to 50 ms) instead of starting at once.
//
// Deterministic detector: every worker obeys a StepGate (installed by the fixture's setup from
// workerData), armed to count Step.PoolWakeMissed: an idle worker that would claim slept out its
// time though the task word moved and work waited. Each trial leaves the claiming worker time to
// fall asleep, then submits one task. Before the fix most trials stole the wake-up.
import { setTimeout as delay } from 'node:timers/promises';
import { FixedWorkerPool, WorkerPool } from 'skein';
import { Step, StepGate } from 'skein/internal';
import { describe, expect, it } from 'vitest';
import { trackPools, until, within } from '../fixtures/pool-helpers.js';

const WAKE = new URL('../fixtures/pool-wake.mjs', import.meta.url);
const track = trackPools();
const TRIALS = 12;

/** Counts PoolWakeMissed in every thread obeying it, pausing none (no thread has id -2). */
function missCounter(): StepGate {
  const gate = new StepGate();
  gate.arm(Step.PoolWakeMissed, -2);
  return gate;
}

/** An async task in flight until the returned release() is called. */
function holder(pool: WorkerPool): { done: Promise<unknown>; release: () => void } {
  const sab = new SharedArrayBuffer(4);
  const done = pool.submit(sab, { fn: 'hold' });
  done.catch(() => {}); // awaited by the test; a failed test force-closes the pool under it
  return {
    done,
    release: () => {
      Atomics.store(new Int32Array(sab), 0, 1);
      Atomics.notify(new Int32Array(sab), 0);
    },
  };
}

const readyWorkers = (pool: WorkerPool): number => pool.getHealthStatus().filter((h) => h.alive && h.ready).length;

/** Submits one task at a time, each after the idle worker fell asleep; returns the wake-ups missed. */
async function trials(pool: WorkerPool, gate: StepGate, beforeEach?: () => Promise<void>): Promise<number> {
  for (let i = 0; i < TRIALS && gate.hits === 0; i++) {
    await beforeEach?.();
    await delay(10); // the claiming worker spins 50 µs, then sleeps on the task word
    expect(await within(pool.submit(i, { fn: 'double' }), 5000, `task ${i}`)).toBe(2 * i);
  }
  return gate.hits;
}

describe('a worker that will not claim takes no wake-up meant for one that would', () => {
  it('a worker running its one async task (concurrency 1) leaves the wake-up to the idle one', async () => {
    const gate = missCounter();
    const pool = track(new FixedWorkerPool(2, { filename: WAKE, workerData: { gate: gate.sab } }));
    await until(() => readyWorkers(pool) === 2, 10_000, 'two ready workers');
    const h = holder(pool);
    await until(() => pool.getHealthStatus().filter((s) => s.busy).length === 1, 5000, 'the hold to start');
    expect(await trials(pool, gate)).toBe(0);
    h.release();
    expect(await within(h.done, 5000, 'hold')).toBe('released');
  });

  it('a recycling worker (past maxTasksPerWorker, its task still running) leaves it to the others', async () => {
    const gate = missCounter();
    // Room for two tasks each, one task per worker's life: the holder claims nothing more, not because
    // it is full but because it is recycling. Each trial's worker is replaced after its task.
    const pool = track(
      new FixedWorkerPool(2, {
        filename: WAKE,
        workerData: { gate: gate.sab },
        concurrentTasksPerWorker: 2,
        maxTasksPerWorker: 1,
      }),
    );
    await until(() => readyWorkers(pool) === 2, 10_000, 'two ready workers');
    const h = holder(pool);
    await until(() => pool.getHealthStatus().filter((s) => s.busy).length === 1, 5000, 'the hold to start');
    // The last trial's worker has left and its replacement, which has run nothing yet, is ready.
    const fresh = (): boolean => {
      const hs = pool.getHealthStatus();
      return hs.length === 2 && hs.every((h) => h.alive && h.ready && h.tasksDone === 0);
    };
    const missed = await trials(pool, gate, () => until(fresh, 10_000, 'the replacement'));
    expect(missed).toBe(0);
    h.release();
    expect(await within(h.done, 5000, 'hold')).toBe('released');
  });

  it('a worker asked to leave while its task runs leaves it to the worker that stays', async () => {
    const gate = missCounter();
    const pool = track(
      new WorkerPool({
        filename: WAKE,
        workerData: { gate: gate.sab },
        minWorkers: 1,
        maxWorkers: 2,
        concurrentTasksPerWorker: 2,
      }),
    );
    await until(() => readyWorkers(pool) === 1, 10_000, 'one ready worker');
    const h = holder(pool);
    await until(() => pool.getHealthStatus().some((s) => s.busy), 5000, 'the hold to start');
    pool.scaleDown(1); // the only worker: asked to leave once its task ends
    pool.scaleUp(1); // and one that stays
    await until(() => readyWorkers(pool) === 2, 10_000, 'the new worker');
    expect(await trials(pool, gate)).toBe(0);
    h.release();
    expect(await within(h.done, 5000, 'hold')).toBe('released');
    await until(() => pool.getWorkerCount() === 1, 5000, 'the leaving worker to exit');
  });
});
