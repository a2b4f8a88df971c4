// maxQueue and drain, concurrent tasks per worker, transfer lists, large values, shared objects.
import { QueueFullError, Semaphore, WaitGroup, WorkerPool } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { rejection, TASKS, until, within } from '../fixtures/pool-helpers.js';

let pool: WorkerPool | undefined;
afterEach(async () => {
  if (pool) await within(pool.close({ force: true }), 5000, 'close');
  pool = undefined;
});

function make(opts: Partial<ConstructorParameters<typeof WorkerPool>[0]> = {}): WorkerPool {
  pool = new WorkerPool({ filename: TASKS, maxWorkers: 1, ...opts });
  return pool;
}

describe('maxQueue and drain', () => {
  it('overflow rejects QueueFullError; drain() waits for room; then submits are accepted again', async () => {
    const pool = make({ maxQueue: 3 });
    await pool.submit(0);
    // Still running through the checks below however slow the machine (the queue stays full, and
    // the drain starts well before it ends).
    const blocker = pool.submit(1000, { fn: 'spin' });
    await until(() => pool.metrics().busy === 1, 10_000);
    const waiting = [1, 2, 3].map((i) => pool.submit(i, { fn: 'double' }));
    expect(pool.getQueueLength()).toBe(3);
    const over = await rejection(pool.submit(4));
    expect(over).toBeInstanceOf(QueueFullError);
    expect(over.message).toMatch(/maxQueue 3/);
    const batch = await rejection(pool.submitBatch([1, 2]));
    expect(batch).toBeInstanceOf(QueueFullError);
    const t0 = Date.now();
    await within(pool.drain(), 5000, 'drain');
    expect(Date.now() - t0).toBeGreaterThan(100); // it waited for the blocker to finish
    expect(pool.getQueueLength()).toBe(0);
    expect(await pool.submit(5, { fn: 'double' })).toBe(10);
    expect(await blocker).toBe(1000);
    expect(await Promise.all(waiting)).toEqual([2, 4, 6]);
  });

  it('map() over more inputs than maxQueue waits for room instead of failing with QueueFullError', async () => {
    // Before, map's window (64 at least) ran into maxQueue: it threw QueueFullError after ~26 outputs.
    const pool = make({ maxQueue: 4 });
    await pool.submit(0);
    const inputs = Array.from({ length: 100 }, (_, i) => i);
    const out: unknown[] = [];
    for await (const v of pool.map(inputs, { fn: 'double' })) out.push(v);
    expect(out).toEqual(inputs.map((i) => i * 2));
    const unordered: unknown[] = [];
    for await (const v of pool.map(inputs, { fn: 'double', ordered: false, window: 1000 })) unordered.push(v);
    expect(unordered.length).toBe(100);
  });

  it('drain() resolves at once when nothing waits', async () => {
    const pool = make();
    await within(pool.drain(), 2000, 'drain of an idle pool');
    await pool.submit(1);
    await within(pool.drain(), 2000, 'drain after work');
  });

  it('maxQueue 0: tasks run only while a worker is free to take them', async () => {
    const pool = make({ maxQueue: 0 });
    await pool.submit(0);
    const running = pool.submit(200, { fn: 'spin' });
    await until(() => pool.metrics().busy === 1, 10_000);
    expect(await rejection(pool.submit(1))).toBeInstanceOf(QueueFullError);
    await running;
    expect(await pool.submit(2)).toBe(2);
  });

  it('room is maxQueue plus what the workers can still take: busy slots count, idle ones do not', async () => {
    // queueFull sums the workers' tasks in flight only near the limit (task-intake.ts); this pins
    // the limit itself: 2 workers x 2 tasks, 1 running, so 3 free and 2 + 3 may wait.
    const pool = make({ minWorkers: 2, maxWorkers: 2, concurrentTasksPerWorker: 2, maxQueue: 2 });
    await Promise.all([0, 1, 2, 3].map((i) => pool.submit(i)));
    const blocker = pool.submit(400, { fn: 'spin' });
    await until(() => pool.metrics().busy === 1, 10_000);
    const burst = Array.from({ length: 7 }, () => pool.submit(20, { fn: 'spin' }).then(() => 'ok', (e: unknown) => e));
    const got = await Promise.all(burst);
    expect(got.slice(0, 5)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    expect(got[5]).toBeInstanceOf(QueueFullError);
    expect(got[6]).toBeInstanceOf(QueueFullError);
    expect(await blocker).toBe(400);
  });

  it('a producer that awaits drain() between chunks never sees QueueFullError', async () => {
    const pool = make({ maxWorkers: 2, maxQueue: 50 });
    const all: Promise<unknown>[] = [];
    for (let chunk = 0; chunk < 20; chunk++) {
      await pool.drain();
      for (let i = 0; i < 50; i++) all.push(pool.submit(chunk * 50 + i, { fn: 'double' }));
    }
    const out = (await within(Promise.all(all), 10_000, 'all chunks')) as number[];
    expect(out).toEqual(Array.from({ length: 1000 }, (_, i) => i * 2));
  });
});

describe('concurrentTasksPerWorker', () => {
  it('async tasks overlap on one worker', async () => {
    const pool = make({ concurrentTasksPerWorker: 4 });
    await pool.submit(0);
    const t0 = Date.now();
    const spans = await Promise.all(
      [1, 2, 3, 4].map(() => pool.submit<[number, number]>(200, { fn: 'timedSleep' })),
    );
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(195);
    expect(took).toBeLessThan(800); // one after another would take 800; lastStart < firstEnd shows the overlap
    const lastStart = Math.max(...spans.map((s) => s[0]));
    const firstEnd = Math.min(...spans.map((s) => s[1]));
    expect(lastStart).toBeLessThan(firstEnd);
    expect(pool.getWorkerCount()).toBe(1);
  });

  it('never runs more than the limit at once on one worker', async () => {
    const pool = make({ concurrentTasksPerWorker: 2 });
    await pool.submit(0);
    const t0 = Date.now();
    await Promise.all([1, 2, 3, 4].map(() => pool.submit(150, { fn: 'sleep' })));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290); // two rounds of two
  });
});

describe('values that do not fit the rings', () => {
  it('transfer lists move ArrayBuffers: the sender is detached, the worker gets the bytes', async () => {
    const pool = make();
    const buf = new Uint8Array(1024).fill(3).buffer;
    const sum = await pool.submit(buf, { fn: 'sum', transfer: [buf] });
    expect(sum).toBe(3 * 1024);
    expect(buf.byteLength).toBe(0);
    const u8 = new Uint8Array(4096).fill(1);
    const out = await pool.submit(u8, { fn: 'byteSum', transfer: [u8.buffer] });
    expect(out).toEqual({ len: 4096, sum: 4096, shared: false });
    expect(u8.byteLength).toBe(0);
    // Without a transfer list the sender keeps its copy.
    const kept = new Uint8Array(16).fill(2);
    expect(await pool.submit(kept, { fn: 'byteSum' })).toEqual({ len: 16, sum: 32, shared: false });
    expect(kept.byteLength).toBe(16);
  });

  it('a SharedArrayBuffer in the input is shared, not copied', async () => {
    const pool = make();
    const u8 = new Uint8Array(new SharedArrayBuffer(8)).fill(5);
    expect(await pool.submit(u8, { fn: 'byteSum' })).toEqual({ len: 8, sum: 40, shared: true });
  });

  it('large inputs and results (past a ring record) round-trip', async () => {
    const pool = make();
    const big = 'x'.repeat(3_000_000);
    expect(await pool.submit(big, { fn: 'identity' })).toBe(big);
    const bytes = await pool.submit<Uint8Array>(2_000_000, { fn: 'bytes' });
    expect(bytes.length).toBe(2_000_000);
    expect(bytes[1_999_999]).toBe(7);
    const obj = { rows: Array.from({ length: 50_000 }, (_, i) => ({ i, s: `row ${i}` })) };
    expect(await pool.submit(obj, { fn: 'identity' })).toEqual(obj);
  });

  it('an input that cannot be cloned rejects at the call site', async () => {
    const pool = make();
    await expect(pool.submit({ f: () => 1 })).rejects.toThrow();
    await expect(pool.submit(Symbol('s'))).rejects.toThrow();
    expect(await pool.submit(1)).toBe(1);
  });
});

describe('shared objects in a task input', () => {
  // DESIGN: "Pass the object itself: inside a pool task's input or result ... it arrives as a live
  // object of the same class". (Regression: inputs holding shared memory go by postMessage and
  // used to reach the task as a plain `{ handle }` clone.)
  it('a WaitGroup arrives live: the worker calls done(), the main thread wait() returns', async () => {
    const pool = make({ maxWorkers: 2 });
    const wg = new WaitGroup();
    wg.add(3);
    const kinds = await within(
      Promise.all([
        pool.submit(wg, { fn: 'wgDone' }),
        pool.submit([wg][0], { fn: 'wgDone' }),
        pool.submit(wg, { fn: 'wgDone' }),
      ]),
      3000,
      'wgDone tasks',
    );
    expect(kinds).toEqual(['WaitGroup', 'WaitGroup', 'WaitGroup']);
    await within(wg.wait({ timeout: 2000 }), 2500, 'wg.wait');
    expect(wg.count).toBe(0);
  });

  it('a Semaphore nested in the input arrives live: permits taken there are gone here', async () => {
    const pool = make();
    const sem = new Semaphore(5);
    const r = await within(pool.submit({ sem, n: 2 }, { fn: 'semTake' }), 3000, 'semTake');
    expect(r).toEqual({ kind: 'Semaphore', took: true, left: 3 });
    expect(sem.available).toBe(3);
    expect(sem.tryAcquire(4)).toBeUndefined();
    sem.release(2);
    expect(sem.available).toBe(5);
  });

  it('a task module can rebuild a received WaitGroup with WaitGroup.from()', async () => {
    const pool = make({ filename: new URL('../fixtures/pool-shared.mjs', import.meta.url) });
    const wg = new WaitGroup();
    wg.add(2);
    expect(await within(pool.submit(wg, { fn: 'viaFrom' }), 3000, 'viaFrom')).toBe('ok');
    expect(wg.count).toBe(1);
  });

  it('a module that imports skein receives the WaitGroup live', async () => {
    const pool = make({ filename: new URL('../fixtures/pool-shared.mjs', import.meta.url) });
    const wg = new WaitGroup();
    wg.add(1);
    expect(await within(pool.submit(wg, { fn: 'asIs' }), 3000, 'asIs')).toBe('WaitGroup');
    expect(wg.count).toBe(0);
  });

  it('a shared object returned from a task arrives live on the main thread', async () => {
    const pool = make();
    const wg = new WaitGroup();
    const back = await within(pool.submit<WaitGroup>({ wg }, { fn: 'identity' }), 3000, 'identity');
    expect((back as unknown as { wg: WaitGroup }).wg).toBeInstanceOf(WaitGroup);
    (back as unknown as { wg: WaitGroup }).wg.add(2);
    expect(wg.count).toBe(2);
  });
});
