// A million trivial tasks through a 2-worker pool: all settle with their values, memory stays
// bounded while they are pending, and the heap returns near where it started.
import v8 from 'node:v8';
import vm from 'node:vm';
import { WorkerPool } from 'skein';
import { afterAll, expect, it } from 'vitest';
import { sleep, TASKS } from '../fixtures/pool-helpers.js';

// vitest runs without --expose-gc; this turns it on for this process.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const pool = new WorkerPool({ filename: TASKS, maxWorkers: 2 });
afterAll(() => pool.close({ force: true }));

const MiB = 2 ** 20;

it('1M submit(i) all resolve in order of their inputs, with bounded memory', {
  timeout: 30_000,
}, async () => {
  expect(await pool.submit(0)).toBe(0);
  gc();
  const before = process.memoryUsage();
  const N = 1_000_000;
  const t0 = Date.now();
  let promises: Promise<number>[] | undefined = new Array(N);
  for (let i = 0; i < N; i++) promises[i] = pool.submit<number>(i);
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  let out: number[] | undefined = await Promise.all(promises);
  clearInterval(sampler);
  const ms = Date.now() - t0;
  let wrong = 0;
  for (let i = 0; i < N; i++) if (out[i] !== i) wrong++;
  expect(wrong).toBe(0);
  expect(pool.metrics()).toMatchObject({ completed: N + 1, failed: 0, queued: 0, inFlight: 0 });
  promises = undefined;
  out = undefined;
  await sleep(20);
  gc();
  await sleep(20);
  gc();
  const after = process.memoryUsage();
  console.info(
    `1M tasks: ${ms} ms, rss ${Math.round(before.rss / MiB)} -> peak ${Math.round(peak / MiB)} MiB, ` +
      `heap ${Math.round(before.heapUsed / MiB)} -> ${Math.round(after.heapUsed / MiB)} MiB after GC`,
  );
  expect(peak).toBeLessThan(1.5 * 1024 * MiB);
  expect(peak - before.rss).toBeLessThan(800 * MiB);
  expect(after.heapUsed - before.heapUsed).toBeLessThan(32 * MiB);
  expect(ms).toBeLessThan(25_000);
});
