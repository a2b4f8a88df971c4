// What piscina and comlink users expect of a pool: typed proxies, setup/teardown once per worker,
// recycling by task count and heap size, out-of-memory failures, worker options, utilization and
// the 'drain' event. Real workers throughout.
import {
  AbortError,
  DynamicWorkerPool,
  FixedWorkerPool,
  InvalidArgumentError,
  isWorkerThread,
  TimeoutError,
  WorkerCrashedError,
  WorkerOutOfMemoryError,
  WorkerPool,
  WorkerSetupError,
} from 'skein';
import { once } from 'node:events';
import { SHARE_ENV } from 'node:worker_threads';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { rejection, sharedCounters, sleep, TASKS, trackPools, until, within } from '../fixtures/pool-helpers.js';

const fixture = (name: string): URL => new URL(`../fixtures/${name}`, import.meta.url);
const LIFE = fixture('pool-life.mjs');

const track = trackPools();

describe('pool.proxy', () => {
  it('has a method per exported function, typed from the module', async () => {
    const pool = track(new FixedWorkerPool(1, { filename: fixture('proxy-tasks.mjs') }));
    const m = pool.proxy<typeof import('../fixtures/proxy-tasks.mjs')>();
    expectTypeOf(m.norm).parameter(0).toEqualTypeOf<{ x: number; y: number }>();
    expectTypeOf(m.norm).returns.toEqualTypeOf<Promise<number>>();
    expectTypeOf(m.greet).returns.toEqualTypeOf<Promise<string>>();
    expectTypeOf(m.default).parameter(0).toEqualTypeOf<number>();
    expectTypeOf(m).not.toHaveProperty('setup');
    expectTypeOf(m).not.toHaveProperty('version');
    expect(await m.norm({ x: 3, y: 4 })).toBe(5);
    expect(await m.default(1, { priority: 9 })).toBe(101);
    expect(await m.greet('ada')).toBe('hello ada');
    expect(m.norm).toBe(m.norm);
    // A proxy is not a thenable: awaiting it gives it back.
    expect(await Promise.resolve(m)).toBe(m);
    if (Math.random() > 2) {
      // @ts-expect-error a wrong argument type does not compile
      await m.norm('3,4');
      // @ts-expect-error nor does a function the module lacks
      await m.missing(1);
    }
  });

  it('rejects like submit for a function the module lacks at run time', async () => {
    const pool = track(new FixedWorkerPool(1, { filename: fixture('proxy-tasks.mjs') }));
    const m = pool.proxy<{ nope(x: number): number }>();
    expect((await rejection(m.nope(1))).name).toBe('TaskFunctionNotFoundError');
  });

  it('JSON.stringify, string conversion and Object.prototype names submit no task', async () => {
    const pool = track(new FixedWorkerPool(1, { filename: fixture('proxy-tasks.mjs') }));
    const m = pool.proxy<typeof import('../fixtures/proxy-tasks.mjs')>();
    const probed = m as unknown as Record<string, unknown>;
    for (const name of ['toJSON', 'toString', 'valueOf', 'constructor', 'hasOwnProperty', '__proto__'])
      expect(probed[name], name).toBeUndefined();
    // Before, each of these submitted a task whose TaskFunctionNotFoundError went unhandled.
    expect(JSON.stringify({ m })).toBe('{"m":{}}');
    expect(() => `${String(m)}`).toThrow(TypeError);
    expect(await m.norm({ x: 3, y: 4 })).toBe(5);
    expect(pool.metrics().failed).toBe(0);
    expect(pool.metrics().completed).toBe(1);
  });
});

describe('a pool given its module type', () => {
  type Tasks = typeof import('../fixtures/proxy-tasks.mjs');

  it('types submit, run, submitBatch, map and proxy from the module', async () => {
    const pool = track(new FixedWorkerPool<Tasks>(1, { filename: fixture('proxy-tasks.mjs') }));
    const one = pool.submit(1);
    expectTypeOf(one).toEqualTypeOf<Promise<number>>();
    const norm = pool.submit({ x: 3, y: 4 }, { fn: 'norm', priority: 9 });
    expectTypeOf(norm).toEqualTypeOf<Promise<number>>();
    const hello = pool.run('ada', { fn: 'greet' });
    expectTypeOf(hello).toEqualTypeOf<Promise<string>>();
    const batch = pool.submitBatch(['a', 'b'], { fn: 'greet' });
    expectTypeOf(batch).toEqualTypeOf<Promise<string[]>>();
    const mapped = pool.map([1, 2], { ordered: true });
    expectTypeOf(mapped).toEqualTypeOf<AsyncIterable<number>>();
    const m = pool.proxy();
    expectTypeOf(m.greet).returns.toEqualTypeOf<Promise<string>>();
    expect(await one).toBe(101);
    expect(await norm).toBe(5);
    expect(await hello).toBe('hello ada');
    expect(await batch).toEqual(['hello a', 'hello b']);
    const outs: number[] = [];
    for await (const n of mapped) outs.push(n);
    expect(outs).toEqual([101, 102]);
    expect(await m.greet('bo')).toBe('hello bo');
    // 'default' names the default export, as the proxy's `default` method does.
    expect(await pool.submit(2, { fn: 'default' })).toBe(102);
    if (Math.random() > 2) {
      // @ts-expect-error the default export takes a number
      await pool.submit('1');
      // @ts-expect-error norm takes a point
      await pool.submit(1, { fn: 'norm' });
      // @ts-expect-error a function the module lacks
      await pool.submit(1, { fn: 'missing' });
      // @ts-expect-error setup is a lifecycle hook, not a task
      await pool.submit(1, { fn: 'setup' });
      // @ts-expect-error version is not a function
      await pool.submit(1, { fn: 'version' });
      // @ts-expect-error the result is the function's: a number, not a string
      const s: string = await pool.submit(1);
      // @ts-expect-error run checks as submit does
      await pool.run(1, { fn: 'greet' });
      // @ts-expect-error submitBatch too
      await pool.submitBatch([1], { fn: 'greet' });
      // @ts-expect-error map too
      pool.map(['x']);
      // @ts-expect-error and the proxy
      await m.norm('3,4');
      const named = pool as unknown as WorkerPool<{ norm(p: { x: number; y: number }): number }>;
      // @ts-expect-error a module without a default export needs fn
      await named.submit({ x: 1, y: 2 });
      expectTypeOf(named.submit({ x: 1, y: 2 }, { fn: 'norm' })).toEqualTypeOf<Promise<number>>();
      void s;
    }
  });

  it('WorkerPool and DynamicWorkerPool take it too; a typed pool is a WorkerPool', async () => {
    const dyn = track(new DynamicWorkerPool<Tasks>({ filename: fixture('proxy-tasks.mjs'), maxWorkers: 1 }));
    const plain = track(new WorkerPool<Tasks>({ filename: fixture('proxy-tasks.mjs'), maxWorkers: 1 }));
    const a = dyn.submit({ x: 6, y: 8 }, { fn: 'norm' });
    const b = plain.submit(5);
    expectTypeOf(a).toEqualTypeOf<Promise<number>>();
    expectTypeOf(b).toEqualTypeOf<Promise<number>>();
    expect([await a, await b]).toEqual([10, 105]);
    // Where an untyped pool is expected (a pipeline stage, fanOut), a typed one fits.
    const any: WorkerPool = dyn;
    expect(any).toBe(dyn);
    if (Math.random() > 2) {
      // @ts-expect-error DynamicWorkerPool checks the input
      await dyn.submit('x', { fn: 'norm' });
      // @ts-expect-error WorkerPool checks the name
      await plain.submit(1, { fn: 'nope' });
    }
  });

  it('without a module type, submit takes any input and name and resolves to R', async () => {
    const pool = track(new FixedWorkerPool(1, { filename: fixture('proxy-tasks.mjs') }));
    const loose = pool.submit('x', { fn: 'anything' });
    expectTypeOf(loose).toEqualTypeOf<Promise<unknown>>();
    const lost = rejection(loose);
    const n = pool.submit<number>(1);
    expectTypeOf(n).toEqualTypeOf<Promise<number>>();
    const batch = pool.submitBatch<string>(['a'], { fn: 'greet' });
    expectTypeOf(batch).toEqualTypeOf<Promise<string[]>>();
    expect(await n).toBe(101);
    expect(await batch).toEqual(['hello a']);
    expect((await lost).name).toBe('TaskFunctionNotFoundError');
  });
});

describe('setup and teardown', () => {
  it('setup runs once per worker before its tasks, teardown when it leaves on close', async () => {
    const counters = sharedCounters(2);
    const pool = new FixedWorkerPool(2, { filename: LIFE, workerData: { counters } });
    const infos = await Promise.all(Array.from({ length: 8 }, () => pool.submit<{ setupWorkerId: number; workerId: number; isWorkerThread: boolean }>(0, { fn: 'info' })));
    for (const i of infos) {
      expect(i.setupWorkerId).toBe(i.workerId);
      expect(i.isWorkerThread).toBe(true);
    }
    await until(() => Atomics.load(counters, 0) === 2);
    await within(pool.close(), 5000, 'close');
    expect(Atomics.load(counters, 1)).toBe(2);
    expect(isWorkerThread).toBe(false);
  });

  it('a failing setup fails every task with WorkerSetupError and starts no more workers', async () => {
    const counters = sharedCounters(1);
    const pool = track(new FixedWorkerPool(2, { filename: fixture('pool-setup-fail.mjs'), workerData: { counters } }));
    const errs = await Promise.all([rejection(pool.submit(1)), rejection(pool.submit(2))]);
    for (const err of errs) {
      expect(err).toBeInstanceOf(WorkerSetupError);
      expect(err.message).toContain('no database');
      expect(err.cause).toBeInstanceOf(RangeError);
    }
    await sleep(300);
    expect(Atomics.load(counters, 0)).toBeLessThanOrEqual(2);
    expect(await rejection(pool.submit(3))).toBeInstanceOf(WorkerSetupError);
  });
});

describe('recycling', () => {
  it('maxTasksPerWorker replaces a worker after that many tasks, running its teardown', async () => {
    const counters = sharedCounters(2);
    const pool = track(new FixedWorkerPool(1, { filename: LIFE, workerData: { counters }, maxTasksPerWorker: 3 }));
    const ids: number[] = [];
    for (let i = 0; i < 9; i++) ids.push(await pool.submit<number>(0, { fn: 'whoami' }));
    const runs = new Map<number, number>();
    for (const id of ids) runs.set(id, (runs.get(id) ?? 0) + 1);
    expect([...runs.values()]).toEqual([3, 3, 3]);
    // Even when tasks are queued all at once (workers claim in batches), none runs more than 3.
    const burst = await Promise.all(Array.from({ length: 20 }, () => pool.submit<number>(0, { fn: 'whoami' })));
    const per = new Map<number, number>();
    for (const id of burst) per.set(id, (per.get(id) ?? 0) + 1);
    expect(Math.max(...per.values())).toBeLessThanOrEqual(3);
    await until(() => Atomics.load(counters, 1) >= 3 + per.size - 1);
  });

  it('a recycled worker whose teardown hangs is terminated after a grace, so its successor runs the queue', async () => {
    const pool = track(new FixedWorkerPool(1, { filename: fixture('pool-teardown-hang.mjs'), maxTasksPerWorker: 2 }));
    // Before, the worker never exited, its successor never started, and tasks 3 and 4 never ran.
    const ids = await within(
      Promise.all(Array.from({ length: 4 }, () => pool.submit<number>(0, { fn: 'whoami' }))),
      10_000,
      'tasks after a hanging teardown',
    );
    expect(new Set(ids).size).toBe(2);
    await within(pool.close(), 5000, 'close');
  });

  it('maxMemoryPerWorker replaces a worker whose heap grew past it', async () => {
    const pool = track(new FixedWorkerPool(1, { filename: LIFE, maxMemoryPerWorker: 48 }));
    const first = await pool.submit<number>(0, { fn: 'whoami' });
    expect(await pool.submit<number>(1, { fn: 'retain' })).toBeGreaterThan(0); // ~1 MiB: stays
    expect(await pool.submit<number>(0, { fn: 'whoami' })).toBe(first);
    await pool.submit(64, { fn: 'retain' }); // ~64 MiB of arrays: over the limit after this task
    expect(await pool.submit<number>(0, { fn: 'whoami' })).not.toBe(first);
  });

  it('rejects bad limits', () => {
    expect(() => new FixedWorkerPool(1, { filename: LIFE, maxTasksPerWorker: 0 })).toThrow(InvalidArgumentError);
    expect(() => new FixedWorkerPool(1, { filename: LIFE, maxMemoryPerWorker: -1 })).toThrow(InvalidArgumentError);
  });
});

describe('resourceLimits', () => {
  it('an out-of-memory worker fails only its task, with WorkerOutOfMemoryError', async () => {
    const pool = track(
      new FixedWorkerPool(2, { filename: LIFE, resourceLimits: { maxOldGenerationSizeMb: 32 }, maxQueue: 100 }),
    );
    const others = Array.from({ length: 6 }, (_, i) => pool.submit<number>(50, { fn: 'spin' }).then(() => i));
    const err = await within(rejection(pool.submit(0, { fn: 'hog' })), 20_000, 'out of memory');
    expect(err).toBeInstanceOf(WorkerOutOfMemoryError);
    expect(err).toBeInstanceOf(WorkerCrashedError);
    expect(err.message).toContain('out of memory');
    expect(await Promise.all(others)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(await pool.submit<number>(1, { fn: 'spin' })).toBe(1);
  });
});

describe('worker options', () => {
  it('env, argv and execArgv reach the workers', async () => {
    const pool = track(
      new FixedWorkerPool(1, {
        filename: LIFE,
        env: { SKEIN_TEST_VAR: 'yes' },
        argv: ['--flag', 'x'],
        execArgv: ['--no-deprecation'],
        name: 'hasher',
      }),
    );
    const r = await pool.submit<{ value: string; argv: string[]; execArgv: string[] }>('SKEIN_TEST_VAR', { fn: 'env' });
    expect(r.value).toBe('yes');
    expect(r.argv).toEqual(['--flag', 'x']);
    expect(r.execArgv).toEqual(['--no-deprecation']);
  });

  it('env: SHARE_ENV shares the main thread\'s environment, as new Worker does (it was refused)', async () => {
    const pool = track(new FixedWorkerPool(1, { filename: LIFE, env: SHARE_ENV }));
    process.env.SKEIN_SHARED_VAR = 'set after the pool started';
    try {
      const r = await pool.submit<{ value: string }>('SKEIN_SHARED_VAR', { fn: 'env' });
      expect(r.value).toBe('set after the pool started');
    } finally {
      delete process.env.SKEIN_SHARED_VAR;
    }
  });

  it('rejects bad ones', () => {
    expect(() => new FixedWorkerPool(1, { filename: LIFE, argv: 'x' as never })).toThrow(InvalidArgumentError);
    expect(() => new FixedWorkerPool(1, { filename: LIFE, name: '' })).toThrow(InvalidArgumentError);
  });
});

describe('utilization and drain', () => {
  it('reports busy time over wall time per worker', async () => {
    const pool = track(new FixedWorkerPool(1, { filename: TASKS }));
    await pool.submit(0, { fn: 'spin' });
    const idle = pool.getHealthStatus()[0].utilization;
    await pool.submit(300, { fn: 'spin' });
    const [h] = pool.getHealthStatus();
    expect(h.utilization).toBeGreaterThan(idle);
    expect(h.utilization).toBeGreaterThan(0.05);
    expect(h.utilization).toBeLessThanOrEqual(1);
    const [w] = pool.metrics().workerUtilization;
    expect(w.workerId).toBe(h.workerId);
    expect(w.utilization).toBeGreaterThan(0.05);
  });

  it('metrics().utilization counts per task slot, as workerUtilization does (concurrentTasksPerWorker > 1)', async () => {
    // Before, the pool's figure did not divide by the slots: one task on a worker with 4 slots read
    // about 0.6 (its run time over wall time) while workerUtilization read about 0.15.
    const pool = track(new FixedWorkerPool(1, { filename: TASKS, concurrentTasksPerWorker: 4 }));
    await pool.submit(0);
    await pool.submit(300, { fn: 'sleep' });
    const m = pool.metrics();
    expect(m.workerUtilization[0].utilization).toBeLessThan(0.3);
    expect(m.utilization).toBeLessThan(0.3);
    expect(Math.abs(m.utilization - m.workerUtilization[0].utilization)).toBeLessThan(0.1);
  });

  it("needsDrain while more wait than the workers can run, and 'drain' once none wait", async () => {
    const pool = track(new FixedWorkerPool(1, { filename: TASKS }));
    let drains = 0;
    const drained = new Promise<void>((resolve) =>
      pool.on('drain', () => {
        drains++;
        resolve();
      }),
    );
    const tasks = Array.from({ length: 5 }, () => pool.submit(30, { fn: 'sleep' }));
    expect(pool.needsDrain).toBe(true);
    await within(drained, 5000, 'drain');
    expect(pool.getQueueLength()).toBe(0);
    expect(pool.needsDrain).toBe(false);
    await Promise.all(tasks);
    expect(drains).toBe(1);
    expect(() => pool.on('nope' as 'drain', () => {})).toThrow(InvalidArgumentError);
  });

  it("pool.once('drain') and node:events once(pool, 'drain') work, as with piscina", async () => {
    // Before, pool.once was not a function, and events.once(pool, 'drain') threw TypeError
    // (it calls pool.once, and adds an 'error' listener, which on() refused). The pool is no
    // EventEmitter to @types/node, hence the casts.
    const pool = track(new FixedWorkerPool(1, { filename: TASKS }));
    await pool.submit(0);
    let calls = 0;
    expect(pool.once('drain', () => calls++)).toBe(pool);
    const first = Array.from({ length: 4 }, () => pool.submit(30, { fn: 'sleep' }));
    await within(once(pool as never, 'drain'), 5000, "events.once(pool, 'drain')");
    await Promise.all(first);
    const second = Array.from({ length: 4 }, () => pool.submit(30, { fn: 'sleep' }));
    await within(once(pool as never, 'drain'), 5000, "a second events.once(pool, 'drain')");
    await Promise.all(second);
    expect(calls).toBe(1); // a once listener runs once
  });

  it("drain() and 'drain' settle after close({ force: true }) rejected waiting tasks", async () => {
    const pool = track(new FixedWorkerPool(1, { filename: TASKS }));
    await pool.submit(0);
    let drains = 0;
    pool.on('drain', () => drains++);
    const tasks = Array.from({ length: 6 }, () => rejection(pool.submit(200, { fn: 'sleep' })));
    await within(pool.close({ force: true }), 5000, 'close');
    for (const err of await Promise.all(tasks)) expect(err.name).toBe('PoolClosedError');
    // Before, the rejected tasks' records stayed counted as waiting in the rings: drain() never settled.
    expect(pool.getQueueLength()).toBe(0);
    await within(pool.drain(), 2000, 'drain() after a forced close');
    await until(() => drains === 1);
  });

  it('drain({ timeout, signal }) rejects with TimeoutError / AbortError, as every async wait does (DESIGN.md)', async () => {
    // Before, drain() took no options: drain({ timeout: 50 }) waited for the queue however long
    // that took (here the 1.5 s a worker spends on queued tasks), and a signal was ignored.
    const pool = track(new FixedWorkerPool(1, { filename: TASKS }));
    await pool.submit(0);
    const tasks = Promise.allSettled(Array.from({ length: 6 }, () => pool.submit(250, { fn: 'sleep' })));
    const t0 = performance.now();
    const timedOut = await rejection(pool.drain({ timeout: 50 }));
    expect(timedOut).toBeInstanceOf(TimeoutError);
    expect(timedOut.message).toMatch(/drain timed out after 50 ms/);
    const ac = new AbortController();
    const aborted = rejection(pool.drain({ signal: ac.signal }));
    ac.abort(new Error('shutting down'));
    const err = await within(aborted, 1000, 'drain() after its signal aborted');
    expect(err).toBeInstanceOf(AbortError);
    expect((err.cause as Error).message).toBe('shutting down');
    expect(performance.now() - t0).toBeLessThan(1000);
    await expect(pool.drain({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    await expect(pool.drain({ timeout: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
    // The queue still drains, and a drain with room to wait resolves.
    await within(pool.drain({ timeout: 10_000 }), 5000, 'drain() with a long timeout');
    expect(pool.getQueueLength()).toBe(0);
    expect((await tasks).map((r) => r.status)).toEqual(Array(6).fill('fulfilled'));
  });
});
