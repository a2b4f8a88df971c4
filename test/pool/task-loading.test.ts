// How task modules load as users write them: tsc's CommonJS output, TypeScript under tsx (Node 20
// registers tsx's hooks on the main thread only), and a relative filename that does not resolve.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DynamicWorkerPool, InvalidArgumentError, TaskFunctionNotFoundError, WorkerBootError, WorkerPool } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url);
const pools: WorkerPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close({ force: true })));
});

describe('task module loading', () => {
  it('a relative filename still names the same file after the program changes directory (a later worker looked elsewhere)', async () => {
    const before = process.cwd();
    process.chdir(fileURLToPath(new URL('../fixtures/', import.meta.url)));
    try {
      const dyn = new DynamicWorkerPool({ filename: './pool-tasks.mjs', maxWorkers: 1 });
      pools.push(dyn);
      process.chdir(before); // its first worker starts at the first submit, after this
      expect(await dyn.submit(21, { fn: 'double' })).toBe(42);
    } finally {
      process.chdir(before);
    }
  });

  it("runs tsc's CommonJS output (exports.default = fn) by its default and named functions", async () => {
    const pool = new WorkerPool({ filename: fixture('pool-tsc-cjs.cjs'), maxWorkers: 1 });
    pools.push(pool);
    expect(await pool.submit(21)).toBe(42);
    expect(await pool.submit('hi', { fn: 'shout' })).toBe('HI');
    // A typed pool names the default export 'default' (typeof import gives it that key).
    expect(await pool.submit(4, { fn: 'default' })).toBe(8);
  });

  it('a class instance exported whole runs its methods with `this` (it threw reading this.factor)', async () => {
    const pool = new WorkerPool({ filename: fixture('pool-instance.cjs'), maxWorkers: 1 });
    pools.push(pool);
    expect(await pool.submit(7, { fn: 'times' })).toBe(21);
  });

  it("a default object's functions run by name; Object.prototype's members are not its functions", async () => {
    const pool = new WorkerPool({ filename: fixture('pool-default-object.mjs'), maxWorkers: 1 });
    pools.push(pool);
    expect(await pool.submit(3, { fn: 'double' })).toBe(6);
    for (const fn of ['toString', 'constructor', 'hasOwnProperty', 'valueOf']) {
      const err = await pool.submit(3, { fn }).then(() => undefined, (e: unknown) => e);
      expect(err, fn).toBeInstanceOf(TaskFunctionNotFoundError);
      expect((err as Error).message).toContain('double');
    }
  });

  it('CommonJS module.exports = fn: functions set as its properties run by name, its Function.prototype members do not', async () => {
    const pool = new WorkerPool({ filename: fixture('pool-cjs-fn-props.cjs'), maxWorkers: 1 });
    pools.push(pool);
    expect(await pool.submit(3)).toBe(4);
    expect(await pool.submit(3, { fn: 'times10' })).toBe(30);
    for (const fn of ['call', 'apply', 'bind', 'toString']) {
      expect(await pool.submit(3, { fn }).then(() => undefined, (e: unknown) => e), fn).toBeInstanceOf(
        TaskFunctionNotFoundError,
      );
    }
  });

  it('worker options new Worker refuses fail the tasks of a dynamic pool (not the process), and a fixed pool at construction', async () => {
    const filename = fixture('pool-default-object.mjs');
    const dyn = new DynamicWorkerPool({ filename, maxWorkers: 1, execArgv: ['--no-such-flag'] });
    pools.push(dyn);
    const err = await dyn.submit(1, { fn: 'double' }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerBootError);
    expect((err as Error).message).toContain('--no-such-flag');
    const dyn2 = new DynamicWorkerPool({ filename, maxWorkers: 1, workerData: { f() {} } });
    pools.push(dyn2);
    expect(await dyn2.submit(1, { fn: 'double' }).then(() => undefined, (e: unknown) => e)).toBeInstanceOf(WorkerBootError);
    expect(() => new WorkerPool({ filename, maxWorkers: 1, execArgv: ['--no-such-flag'] })).toThrow(/--no-such-flag/);
  });

  it('runs a .ts task module when the process runs under tsx, on every Node', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(fixture('pool-under-tsx.mjs'))], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(out.trim()).toBe('[101,5]');
  }, 70_000);

  it('a relative filename that does not resolve says it resolved against the cwd and shows new URL', () => {
    let err: unknown;
    try {
      new WorkerPool({ filename: './no-such-task.js', maxWorkers: 1 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    const msg = (err as Error).message;
    expect(msg).toContain(process.cwd());
    expect(msg).toContain("new URL('./no-such-task.js', import.meta.url)");
  });
});
