// The main thread's short spin for results (option `spinMicros`), seen through metrics().mainSpins.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, WorkerPool } from 'skein';
import { Step, StepGate } from 'skein/internal';
import { afterEach, describe, expect, it } from 'vitest';
import { sleep, TASKS } from '../fixtures/pool-helpers.js';

const WAKE = new URL('../fixtures/pool-wake.mjs', import.meta.url);

let pool: WorkerPool | undefined;
afterEach(async () => {
  await pool?.close({ force: true });
  pool = undefined;
});

async function sequential(p: WorkerPool, n: number, fn: string, input: unknown): Promise<void> {
  for (let i = 0; i < n; i++) await p.submit(input, { fn });
}

describe('spinMicros', () => {
  it('accepts auto, 0 and microseconds; refuses anything else by name', () => {
    for (const bad of [-1, Number.NaN, 20_000, 'fast', null]) {
      expect(() => new WorkerPool({ filename: TASKS, spinMicros: bad as never })).toThrow(InvalidArgumentError);
      expect(() => new WorkerPool({ filename: TASKS, spinMicros: bad as never })).toThrow(/spinMicros/);
    }
  });

  it.each(['auto', 0, 50] as const)('accepts %s', async (ok) => {
    const p = new WorkerPool({ filename: TASKS, maxWorkers: 1, spinMicros: ok });
    await expect(p.submit(21, { fn: 'double' })).resolves.toBe(42);
    await p.close();
  });

  it('0 never spins', async () => {
    pool = new WorkerPool({ filename: TASKS, maxWorkers: 1, spinMicros: 0 });
    await sequential(pool, 50, 'double', 2);
    expect(pool.metrics().mainSpins).toEqual({ tries: 0, hits: 0 });
  });

  it('a number spins after every flush, whether or not it pays', async () => {
    pool = new WorkerPool({ filename: TASKS, maxWorkers: 1, spinMicros: 30 });
    await sequential(pool, 10, 'sleep', 5);
    // Each awaited submit is one flush.
    expect(pool.metrics().mainSpins.tries).toBe(10);
  });

  it("'auto' backs off when spins find nothing (long tasks cost a few spins, not one per task)", async () => {
    pool = new WorkerPool({ filename: TASKS, maxWorkers: 2 });
    // A long task keeps one worker busy, so a worker always counts as awake and every flush may spin.
    const background = pool.submit(1500, { fn: 'sleep' });
    await sequential(pool, 40, 'sleep', 5);
    const { tries, hits } = pool.metrics().mainSpins;
    // Misses skip 1, 2, 4, 8, then 16 chances: at most flushes 1, 3, 6, 11, 20 and 37 spin. A
    // 5 ms task answers within the 20 µs spin only if the main thread was preempted meanwhile
    // (a loaded machine), and such a hit restarts the back-off; allow one.
    expect(hits).toBeLessThanOrEqual(1);
    expect(tries).toBeLessThanOrEqual(hits === 0 ? 6 : 10);
    expect(tries).toBeGreaterThan(0);
    await background;
  });

  it("'auto' does not spin when every worker sleeps (waking one costs more than the spin)", async () => {
    pool = new WorkerPool({ filename: TASKS, maxWorkers: 1 });
    await pool.submit(1, { fn: 'double' });
    for (let i = 0; i < 30; i++) {
      // The worker spins 50 µs, then sleeps; 20 ms leaves a loaded machine time to get it there.
      await sleep(20);
      await pool.submit(i, { fn: 'double' });
    }
    // Without the check, misses would still spin at flushes 1, 3, 6, 11 and 20 (whatever the sleep).
    expect(pool.metrics().mainSpins.tries).toBeLessThanOrEqual(2);
  });

  it("'auto' never spins while more tasks are out than workers can run", async () => {
    pool = new WorkerPool({ filename: TASKS, maxWorkers: 1 });
    await Promise.all(Array.from({ length: 200 }, (_, i) => pool?.submit(i, { fn: 'double' })));
    expect(pool.metrics().mainSpins.tries).toBe(0);
  });

  const taskset = ['/usr/bin/taskset', '/bin/taskset'].find((p) => existsSync(p));
  it.skipIf(!taskset)('never spins on a single CPU (a spin there only delays the worker it waits for)', () => {
    const script = fileURLToPath(new URL('../fixtures/pool-spin-one-cpu.mjs', import.meta.url));
    const out = execFileSync(taskset as string, ['-c', '0', process.execPath, script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(JSON.parse(out)).toEqual({ cpus: 1, tries: 0, hits: 0 });
  });

  it('a spin ends even if the clock stands still (fake timers)', async () => {
    pool = new WorkerPool({ filename: TASKS, minWorkers: 2, maxWorkers: 2 });
    await Promise.all([pool.submit(1, { fn: 'double' }), pool.submit(1, { fn: 'double' })]);
    // One worker busy for 10 s, so a worker counts as awake and the main thread spins; the 1 MB
    // result comes by message, which the spin does not see: only its bound ends it.
    const background = pool.submit(10_000, { fn: 'sleep' }).catch(() => undefined);
    await sleep(20);
    const realNow = performance.now;
    const t0 = Date.now();
    performance.now = () => 1000;
    try {
      const big = (await pool.submit(1_000_000, { fn: 'bytes' })) as Uint8Array;
      expect(big.length).toBe(1_000_000);
    } finally {
      performance.now = realNow;
    }
    expect(Date.now() - t0).toBeLessThan(6000); // generous, yet short of the 10 s background task
    await pool.close({ force: true });
    await background;
  });
});

describe('wake-ups', () => {
  it('a task after an async one is not left to a worker wait timeout (left-over waitAsync)', async () => {
    // Counts the lost wake-up itself (Step.PoolWakeMissed: a claiming worker slept out its 50 ms
    // though a task waited), not slow round trips, which a loaded machine has plenty of.
    const gate = new StepGate();
    gate.arm(Step.PoolWakeMissed, -2); // counts in every worker, pauses none
    const workerData = { gate: gate.sab };
    pool = new WorkerPool({ filename: WAKE, workerData, minWorkers: 2, maxWorkers: 2, spinMicros: 0 });
    await Promise.all([pool.submit(1, { fn: 'double' }), pool.submit(1, { fn: 'double' })]);
    for (let i = 0; i < 120; i++) {
      await pool.submit(2, { fn: 'sleep' }); // an async task: its worker waits in Atomics.waitAsync
      await sleep(1); // every worker goes to sleep
      await pool.submit(3, { fn: 'double' });
    }
    // A worker whose 50 ms sleep times out just as a task is published counts once without any
    // wake-up lost, so allow a few; wake-ups that go astray count in many trials (54 of 120 with
    // the task word's notify removed).
    expect(gate.hits).toBeLessThanOrEqual(3);
  });
});
