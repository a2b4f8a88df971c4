// submit/result through real workers: default and named functions, every kind of task module,
// and the named errors for a missing file, a missing function and a module that cannot load.
import { fileURLToPath } from 'node:url';
import {
  FixedWorkerPool,
  InvalidArgumentError,
  PoolClosedError,
  SkeinError,
  TaskFunctionNotFoundError,
  WorkerModuleError,
  WorkerPool,
} from 'skein';
import { describe, expect, it } from 'vitest';
import { rejection, sleep, TASKS, trackPools, until, within } from '../fixtures/pool-helpers.js';

const fixture = (name: string): URL => new URL(`../fixtures/${name}`, import.meta.url);

const track = trackPools();

/** Node runs `.ts` files by itself when it strips types (22.18+, or 22.6+ with a flag). */
const stripsTypes = Boolean((process.features as { typescript?: unknown }).typescript);

describe('submit and results', () => {
  it('a byte input is taken as it was at submit, even when it waits in the queue', async () => {
    // One slot: the first task holds it, so the next inputs wait in the queue, not in the ring.
    const pool = track(new WorkerPool({ filename: TASKS, maxWorkers: 1, maxInFlight: 1 }));
    const busy = pool.submit(150, { fn: 'sleep' });
    const u8 = new Uint8Array([1, 2, 3]);
    const buf = Buffer.from([4, 5, 6]);
    const ab = new Uint8Array([7, 8, 9]).buffer;
    const results = [
      pool.submit<Uint8Array>(u8, { fn: 'identity' }),
      pool.submit<Uint8Array>(buf, { fn: 'identity' }),
      pool.submit<ArrayBuffer>(ab, { fn: 'identity' }),
    ];
    u8.fill(0);
    buf.fill(0);
    new Uint8Array(ab).fill(0);
    await busy;
    const [a, b, c] = await Promise.all(results);
    expect(Array.from(a as Uint8Array)).toEqual([1, 2, 3]);
    expect(Array.from(b as Uint8Array)).toEqual([4, 5, 6]);
    expect(Array.from(new Uint8Array(c as ArrayBuffer))).toEqual([7, 8, 9]);
  });

  it('a Buffer input or result is a Buffer in the other thread, whether it fits the ring or goes by message', async () => {
    const pool = track(new WorkerPool({ filename: TASKS, maxWorkers: 1 }));
    for (const n of [16, 1 << 19]) {
      // (the ring takes payloads up to a quarter of its 1 MiB; larger ones go by postMessage)
      const input = Buffer.alloc(n, 'ab');
      const seen = await pool.exec((b: Buffer) => [Buffer.isBuffer(b), b.toString('latin1', 0, 4)], input);
      expect(seen, `input of ${n} bytes`).toEqual([true, 'abab']);
      const nested = await pool.exec((o: { b: Buffer }) => Buffer.isBuffer(o.b), { b: input });
      expect(nested, `nested input of ${n} bytes`).toBe(true);
      const back = await pool.submit<Buffer>(input, { fn: 'identity' });
      expect(Buffer.isBuffer(back), `result of ${n} bytes`).toBe(true);
      expect(back.equals(input)).toBe(true);
      const made = await pool.exec((k: number) => ({ b: Buffer.alloc(k, 'z') }), n);
      expect(Buffer.isBuffer(made.b), `nested result of ${n} bytes`).toBe(true);
    }
  });

  it('runs the default export and named exports, with any cloneable input', async () => {
    const pool = track(new WorkerPool({ filename: TASKS, maxWorkers: 2 }));
    expect(await pool.submit(41)).toBe(41);
    expect(await pool.submit(21, { fn: 'double' })).toBe(42);
    expect(await pool.submit('abc', { fn: 'hash' })).toMatch(/^[0-9a-f]{64}$/);
    const obj = {
      a: 1,
      s: 'é\u{1F600}',
      nested: [1, { b: null }],
      big: 10n,
      when: new Date(0),
      m: new Map([[1, 2]]),
    };
    expect(await pool.submit(obj)).toEqual(obj);
    expect(await pool.submit(undefined)).toBeUndefined();
    expect(await pool.submit(null)).toBeNull();
    expect(await pool.submit(-0, { fn: 'identity' })).toBe(-0);
    expect(await pool.submit(2 ** 40 + 0.5)).toBe(2 ** 40 + 0.5);
    const u8 = await pool.submit<Uint8Array>(5, { fn: 'bytes' });
    expect(u8).toBeInstanceOf(Uint8Array);
    expect([...u8]).toEqual([7, 7, 7, 7, 7]);
    expect(await pool.submit(10, { fn: 'sleep' })).toBe(10);
  });

  it('a path string, a file: URL string and a URL all name the module', async () => {
    for (const filename of [fileURLToPath(TASKS), TASKS.href, TASKS]) {
      const pool = track(new WorkerPool({ filename, maxWorkers: 1 }));
      expect(await pool.submit(3, { fn: 'double' })).toBe(6);
      await pool.close();
    }
  });

  it('many tasks on several workers all come back with their own values', async () => {
    const pool = track(new FixedWorkerPool(2, { filename: TASKS }));
    const inputs = Array.from({ length: 2000 }, (_, i) => i);
    const out = await Promise.all(
      inputs.map((i) => pool.submit<number>(i, { fn: i % 2 ? 'double' : undefined })),
    );
    expect(out).toEqual(inputs.map((i) => (i % 2 ? i * 2 : i)));
    expect(pool.getWorkerCount()).toBe(2);
  });

  it('ctx.workerId names the worker that ran the task', async () => {
    const pool = track(new FixedWorkerPool(2, { filename: TASKS }));
    const ids = await Promise.all(
      Array.from({ length: 8 }, () => pool.submit<number>(null, { fn: 'whoami' })),
    );
    for (const id of ids) expect(Number.isInteger(id) && id >= 1).toBe(true);
    expect(pool.getHealthStatus().map((h) => h.workerId)).toEqual(expect.arrayContaining([...new Set(ids)]));
  });

  it('runs a .cjs module: module.exports is the default, its properties are named functions', async () => {
    const pool = track(new WorkerPool({ filename: fixture('pool-tasks.cjs'), maxWorkers: 1 }));
    expect(await pool.submit(1)).toBe(2);
    expect(await pool.submit(5, { fn: 'triple' })).toBe(15);
    expect(await pool.submit(0, { fn: 'kind' })).toBe('cjs');
  });

  it('runs a .js module', async () => {
    const pool = track(new WorkerPool({ filename: fixture('pool-plain.js'), maxWorkers: 1 }));
    expect(await pool.submit(4)).toBe(-4);
    expect(await pool.submit('shout', { fn: 'upper' })).toBe('SHOUT');
  });

  it.runIf(stripsTypes)('runs a .ts module on a Node that strips types', async () => {
    const pool = track(new WorkerPool({ filename: fixture('pool-tasks.ts'), maxWorkers: 1 }));
    expect(await pool.submit(1)).toBe(101);
    expect(await pool.submit({ x: 3, y: 4 }, { fn: 'norm' })).toBe(5);
  });

  it.skipIf(stripsTypes)(
    'a .ts module on a Node without type stripping: WorkerModuleError naming the file and tsx',
    async () => {
      const file = fileURLToPath(fixture('pool-tasks.ts'));
      const pool = track(new WorkerPool({ filename: file, maxWorkers: 1 }));
      const errs = await Promise.all([rejection(pool.submit(1)), rejection(pool.submit(2, { fn: 'norm' }))]);
      for (const err of errs) {
        expect(err).toBeInstanceOf(WorkerModuleError);
        expect(err).toBeInstanceOf(SkeinError);
        expect(err.name).toBe('WorkerModuleError');
        expect(err.message).toContain(file);
        expect(err.message).toContain('tsx');
      }
      await within(pool.close(), 3000, 'close');
    },
  );
});

describe('named errors for a bad module or function', () => {
  it('a missing file is InvalidArgumentError at construction, naming it', () => {
    const missing = fileURLToPath(fixture('no-such-module.mjs'));
    expect(() => new WorkerPool({ filename: missing, maxWorkers: 1 })).toThrow(InvalidArgumentError);
    expect(() => new WorkerPool({ filename: missing, maxWorkers: 1 })).toThrow(missing);
    expect(() => new FixedWorkerPool(1, { filename: new URL('file:///nowhere/x.mjs') })).toThrow(
      /nowhere\/x\.mjs/,
    );
    expect(() => new WorkerPool({} as never)).toThrow(InvalidArgumentError);
  });

  it('bad options are InvalidArgumentError at construction', () => {
    for (const bad of [
      { maxWorkers: 0 },
      { maxWorkers: 1.5 },
      { minWorkers: 3, maxWorkers: 2 },
      { idleTimeout: -1 },
      { maxQueue: -1 },
      { taskTimeout: Number.NaN },
      { concurrentTasksPerWorker: 0 },
    ]) {
      expect(() => new WorkerPool({ filename: TASKS, ...bad }), JSON.stringify(bad)).toThrow(
        InvalidArgumentError,
      );
    }
    expect(() => new FixedWorkerPool(0, { filename: TASKS })).toThrow(InvalidArgumentError);
  });

  it("piscina's pool option names (minThreads, maxThreads) are InvalidArgumentError naming ours", () => {
    // Before, { maxThreads: 1 } was ignored and the pool grew to os.availableParallelism() workers.
    for (const [bad, ours] of [
      [{ maxThreads: 1 }, /maxWorkers/],
      [{ minThreads: 1 }, /minWorkers/],
    ] as const) {
      expect(() => new WorkerPool({ filename: TASKS, ...bad } as never), JSON.stringify(bad)).toThrow(InvalidArgumentError);
      expect(() => new WorkerPool({ filename: TASKS, ...bad } as never), JSON.stringify(bad)).toThrow(ours);
    }
  });

  it('a missing function is TaskFunctionNotFoundError naming it; the worker keeps serving', async () => {
    const pool = track(new WorkerPool({ filename: TASKS, maxWorkers: 1 }));
    const err = await rejection(pool.submit(1, { fn: 'nope' }));
    expect(err).toBeInstanceOf(TaskFunctionNotFoundError);
    expect(err.name).toBe('TaskFunctionNotFoundError');
    expect(err.message).toContain("'nope'");
    expect(err.message).toContain('double'); // lists what the module has
    const notFn = await rejection(pool.submit(1, { fn: 'value' }));
    expect(notFn).toBeInstanceOf(TaskFunctionNotFoundError);
    expect(notFn.message).toContain("'value'");
    expect(await pool.submit(2, { fn: 'double' })).toBe(4);
    expect(pool.getWorkerCount()).toBe(1);
    await expect(pool.submit(1, { fn: '' })).rejects.toThrow(InvalidArgumentError);
  });

  it('a module that throws while loading: every task rejects with WorkerModuleError, no respawn loop, close settles', async () => {
    const file = fileURLToPath(fixture('pool-bad-load.mjs'));
    const pool = track(new WorkerPool({ filename: file, maxWorkers: 2 }));
    const errs = await within(
      Promise.all(Array.from({ length: 6 }, (_, i) => rejection(pool.submit(i)))),
      5000,
      'tasks',
    );
    for (const err of errs) {
      expect(err).toBeInstanceOf(WorkerModuleError);
      expect(err.message).toContain(file);
      expect(err.message).toContain('boom while loading');
    }
    // Later submits fail the same way at once, and no worker is being started over and over.
    await sleep(300);
    const late = await within(rejection(pool.submit(1)), 1000, 'late submit');
    expect(late).toBeInstanceOf(WorkerModuleError);
    // The second worker may still have been booting when the pool gave up: its forced exit can come
    // late on a loaded machine. Wait for it, then check that nothing new starts.
    await until(() => pool.getWorkerCount() === 0, 5000, 'the workers gone');
    const peak = pool.metrics().peakWorkers;
    expect(peak).toBeLessThanOrEqual(2);
    await sleep(200);
    expect(pool.getWorkerCount()).toBe(0);
    expect(pool.metrics().peakWorkers).toBe(peak);
    await within(pool.close(), 3000, 'close');
    expect(await rejection(pool.submit(1))).toBeInstanceOf(Error);
  });

  it('a module that throws while loading: close() settles even with nothing submitted', async () => {
    const pool = track(new WorkerPool({ filename: fixture('pool-bad-load.mjs'), maxWorkers: 2 }));
    await sleep(300);
    await within(pool.close(), 3000, 'close');
    const err = await rejection(pool.submit(1));
    expect(err instanceof PoolClosedError || err instanceof WorkerModuleError).toBe(true);
  });
});
