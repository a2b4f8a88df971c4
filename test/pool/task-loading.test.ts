// How task modules load as users write them: tsc's CommonJS output, TypeScript under tsx (Node 20
// registers tsx's hooks on the main thread only), and a relative filename that does not resolve.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DynamicWorkerPool, InvalidArgumentError, TaskFunctionNotFoundError, WorkerBootError, WorkerModuleError, WorkerPool } from 'skein';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

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

  it('a program run as `node --input-type=module -e` starts its workers (each died of --input-type)', () => {
    const main = `import { WorkerPool } from 'skein';
const pool = new WorkerPool({ filename: ${JSON.stringify(fileURLToPath(fixture('pool-tasks.mjs')))}, maxWorkers: 1 });
try { console.log(await pool.submit(21, { fn: 'double' })); } catch (e) { console.log(e.name + ': ' + e.message); } finally { await pool.close(); }
`;
    for (const flag of [['--input-type=module'], ['--input-type', 'module']]) {
      const out = execFileSync(process.execPath, [...flag, '-e', main], { cwd: fileURLToPath(new URL('../../', import.meta.url)), encoding: 'utf8', timeout: 60_000 });
      expect(out.trim(), flag.join(' ')).toBe('42');
    }
  }, 70_000);

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

  describe('TypeScript task modules in a folder with no tsx of its own (npx tsx, a global tsx, tsx from the cwd)', () => {
    // Workers on Node 20 get none of tsx's hooks and asked for tsx next to the task module, so a
    // main thread that ran the .ts fine saw its workers fail with "Cannot find module 'tsx/cjs/api'".
    const require = createRequire(import.meta.url);
    const ROOT = fileURLToPath(new URL('../../', import.meta.url));
    const tsxLoader = require.resolve('tsx'); // .../tsx/dist/loader.mjs, what the tsx command runs
    const tsxCli = require.resolve('tsx/cli');
    let dir = '';
    beforeAll(() => {
      dir = mkdtempSync(join(os.tmpdir(), 'skein ts tasks-')); // outside the repo, and a space in the path
      mkdirSync(join(dir, 'esm'));
      const files: Record<string, string> = {
        'b.ts': 'export const factor: number = 3;\n',
        'a.ts': "import { factor } from './b.js';\nexport default (x: number): number => x * factor;\n",
        'm.mts': 'export const add = (x: number): number => x + 1;\n',
        'c.cts': 'function sub(x: number): number { return x - 1; }\nmodule.exports = { sub };\n',
        'en.ts': 'enum Op { Add = 1 }\nexport const op = (x: number): number => x + Op.Add;\n',
        'tla.ts': 'const base: number = await Promise.resolve(5);\nexport const get = (): number => base;\n',
        'esm/package.json': '{ "type": "module" }\n',
        'esm/e.ts': "import { factor } from '../b.js';\nexport const mul = (x: number): number => x * factor;\n",
        'main.mjs': `import { WorkerPool } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist/src/index.js')).href)};
if (process.argv[2]) process.chdir(process.argv[2]);
const run = async (file, input, fn) => {
  const pool = new WorkerPool({ filename: new URL(file, import.meta.url), maxWorkers: 1 });
  try { return await pool.submit(input, fn ? { fn } : {}); } catch (e) { return e.name + ': ' + e.message; } finally { await pool.close(); }
};
console.log(JSON.stringify([await run('./a.ts', 2, ''), await run('./m.mts', 2, 'add'), await run('./c.cts', 2, 'sub'), await run('./esm/e.ts', 2, 'mul')]));
`,
        // Pools whose own execArgv / env leave their workers no trace of the tsx the process runs under.
        'own-options.mjs': `import { WorkerPool } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist/src/index.js')).href)};
const out = [];
for (const opts of [{ execArgv: [] }, { execArgv: ['--enable-source-maps'] }, { env: { SKEIN_TEST: '1' } }]) {
  for (const [file, fn] of [['./m.mts', 'add'], ['./a.ts', undefined], ['./en.ts', 'op']]) {
    // a.ts imports './b.js' and en.ts has an enum: tsx runs both, Node's type stripping neither.
    const pool = new WorkerPool({ filename: new URL(file, import.meta.url), maxWorkers: 1, ...opts });
    try { out.push(await pool.submit(2, fn ? { fn } : {})); } catch (e) { out.push(e.name + ': ' + e.message); } finally { await pool.close(); }
  }
}
console.log(JSON.stringify(out));
`,
      };
      for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    const node = (args: string[], cwd: string, nodeOptions = '') =>
      JSON.parse(
        execFileSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODE_OPTIONS: nodeOptions } }),
      ) as unknown[];

    it('node --import /abs/tsx (a global or npx tsx), run from the task folder', () => {
      expect(node(['--import', tsxLoader, join(dir, 'main.mjs')], dir)).toEqual([6, 3, 1, 6]);
    }, 70_000);

    it('the tsx command (it names its loader by absolute path)', () => {
      expect(node([tsxCli, join(dir, 'main.mjs')], dir)).toEqual([6, 3, 1, 6]);
    }, 70_000);

    it('node --import tsx run from a project folder that has tsx, with the task module elsewhere', () => {
      expect(node(['--import', 'tsx', join(dir, 'main.mjs')], ROOT)).toEqual([6, 3, 1, 6]);
    }, 70_000);

    it("a pool's own execArgv or env does not hide the process's tsx from its workers (they said: install tsx and run under it)", () => {
      const all = [3, 6, 3, 3, 6, 3, 3, 6, 3];
      expect(node([tsxCli, join(dir, 'own-options.mjs')], dir)).toEqual(all);
      expect(node([join(dir, 'own-options.mjs')], dir, `--import "${tsxLoader}"`)).toEqual(all);
    }, 70_000);

    const [major, minor] = process.versions.node.split('.').map(Number);
    it.runIf(major < 22 || (major === 22 && minor < 18))(
      "a top-level await the worker's tsx cannot run gets a WorkerModuleError that says so and what to do (it spoke of a cjs output format)",
      () => {
        writeFileSync(
          join(dir, 'tla-main.mjs'),
          `import { WorkerPool } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist/src/index.js')).href)};
const pool = new WorkerPool({ filename: new URL('./tla.ts', import.meta.url), maxWorkers: 1 });
try { console.log(await pool.submit(0, { fn: 'get' })); } catch (e) { console.log(e.name + ': ' + e.message); } finally { await pool.close(); }
`,
        );
        const out = execFileSync(process.execPath, ['--import', tsxLoader, join(dir, 'tla-main.mjs')], {
          cwd: dir,
          encoding: 'utf8',
          timeout: 60_000,
          env: { ...process.env, NODE_OPTIONS: '' },
        });
        expect(out).toMatch(/^WorkerModuleError: .*tla\.ts through tsx: [^]*cannot run top-level await: move that work into an exported setup\(ctx\)/);
      },
      70_000,
    );

    it.runIf(major > 22 || (major === 22 && minor >= 18))(
      'a .ts under node_modules, which Node will not strip, gets advice that fits (it said: use Node >= 22.18, on Node 24)',
      async () => {
        mkdirSync(join(dir, 'node_modules', 'pkg'), { recursive: true });
        writeFileSync(join(dir, 'node_modules', 'pkg', 'm.mts'), 'export const add = (x: number): number => x + 1;\n');
        const pool = new WorkerPool({ filename: join(dir, 'node_modules', 'pkg', 'm.mts'), maxWorkers: 1 });
        pools.push(pool);
        const err = await pool.submit(1, { fn: 'add' }).then(() => undefined, (e: unknown) => e);
        expect(err).toBeInstanceOf(WorkerModuleError);
        const msg = (err as Error).message;
        expect(msg).toContain('Node strips types only outside node_modules: run under tsx');
        expect(msg).not.toContain('use Node >= 22.18');
      },
    );

    it.runIf(major < 22 || (major === 22 && minor < 18))(
      'where no tsx can be found from a worker, a WorkerModuleError says how to make one findable',
      () => {
        // A process under a tsx loader whose package no worker can resolve: this one imports the
        // repo's tsx by absolute path from a folder named tsx outside the repo.
        mkdirSync(join(dir, 'tsx'), { recursive: true });
        writeFileSync(join(dir, 'tsx', 'loader.mjs'), `import ${JSON.stringify(pathToFileURL(tsxLoader).href)};\n`);
        const out = node(['--import', join(dir, 'tsx', 'loader.mjs'), join(dir, 'main.mjs')], dir);
        expect(out).toHaveLength(4);
        expect(out[0]).toMatch(/^WorkerModuleError: cannot load task module .*a\.ts: .*found no tsx package from /);
        expect(out[0]).toContain('npm i -D tsx');
        expect(out[0]).not.toContain("Cannot find module 'tsx/cjs/api'");
      },
      70_000,
    );
  });
});
