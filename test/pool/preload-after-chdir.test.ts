// A program that changes directory before its pools start their workers: the workers still load
// what the process was started with (`--import tsx`, `-r ./setup.cjs`, NODE_OPTIONS). Node resolves
// a worker's inherited relative or bare preload against the directory current when the worker
// starts, so before, every worker died: "Cannot find package 'tsx' imported from /elsewhere/".
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pinNodeOptions } from 'skein/internal';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SKEIN = JSON.stringify(pathToFileURL(join(ROOT, 'dist/src/index.js')).href);

let dir = '';
let elsewhere = '';
beforeAll(() => {
  dir = mkdtempSync(join(os.tmpdir(), 'skein chdir-')); // a space in the path, and no tsx of its own
  elsewhere = mkdtempSync(join(os.tmpdir(), 'skein elsewhere-'));
  mkdirSync(join(dir, 'pre'));
  mkdirSync(join(dir, 'sub'));
  mkdirSync(join(dir, 'node_modules', 'dual'), { recursive: true });
  const files: Record<string, string> = {
    'b.ts': 'export const factor: number = 3;\n',
    'a.ts': "import { factor } from './b.js';\nexport default (x: number): number => x * factor;\n",
    'pre/setup.cjs': 'globalThis.fromRequire = "cjs";\n',
    'pre/setup.mjs': 'globalThis.fromImport = "esm";\n',
    'g.mjs': 'export default () => [globalThis.fromRequire, globalThis.fromImport];\n',
    'which.mjs': 'export default () => globalThis.which;\n',
    // A dual package: Node's --import takes its `import` entry.
    'node_modules/dual/package.json': JSON.stringify({ name: 'dual', exports: { import: './esm.mjs', require: './cjs.cjs' } }),
    'node_modules/dual/esm.mjs': 'globalThis.which = "esm";\n',
    'node_modules/dual/cjs.cjs': 'globalThis.which = "cjs";\n',
    // Moves to argv[2] first, as a program may (a CLI's --cwd), then starts a pool per file.
    'main.mjs': `import { WorkerPool } from ${SKEIN};
process.chdir(process.argv[2]);
// A pool's own execArgv leaves its workers no trace of the process's tsx: skein finds it for them.
const own = process.env.OWN_EXEC_ARGV ? { execArgv: [] } : {};
const run = async (file) => {
  const pool = new WorkerPool({ filename: new URL(file, import.meta.url), maxWorkers: 1, ...own });
  try { return await pool.submit(2); } catch (e) { return e.name + ': ' + e.message; } finally { await pool.close(); }
};
const out = [];
for (const f of process.argv.slice(3)) out.push(await run(f));
console.log(JSON.stringify(out));
`,
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(elsewhere, { recursive: true, force: true });
});

/**
 * Runs main.mjs from `cwd` with `args` before it, moving to `to` (default: a folder outside the
 * project), and returns what each pool gave.
 */
function runMoved(
  args: string[],
  cwd: string,
  files: string[],
  { nodeOptions = '', ownExecArgv = false, to = elsewhere }: { nodeOptions?: string; ownExecArgv?: boolean; to?: string } = {},
): unknown[] {
  const out = execFileSync(process.execPath, [...args, join(dir, 'main.mjs'), to, ...files], {
    cwd,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, NODE_OPTIONS: nodeOptions, OWN_EXEC_ARGV: ownExecArgv ? '1' : '' },
  });
  return JSON.parse(out) as unknown[];
}

describe('inherited preloads after process.chdir', () => {
  it('node --import tsx, run from a project folder that has tsx: a TypeScript task module loads', () => {
    expect(runMoved(['--import', 'tsx'], ROOT, ['./a.ts'])).toEqual([6]);
  }, 70_000);

  it('NODE_OPTIONS="--import tsx": the same', () => {
    expect(runMoved([], ROOT, ['./a.ts'], { nodeOptions: '--import tsx' })).toEqual([6]);
  }, 70_000);

  it("a pool whose own execArgv drops tsx: its workers find the tsx of the folder the process started in", () => {
    expect(runMoved(['--import', 'tsx'], ROOT, ['./a.ts'], { ownExecArgv: true })).toEqual([6]);
  }, 70_000);

  it('relative preloads, CommonJS and ESM, in execArgv and in NODE_OPTIONS', () => {
    const both = [['cjs', 'esm']];
    expect(runMoved(['-r', './pre/setup.cjs', '--import', './pre/setup.mjs'], dir, ['./g.mjs'])).toEqual(both);
    expect(runMoved(['--require=./pre/setup.cjs', '--import=./pre/setup.mjs'], dir, ['./g.mjs'])).toEqual(both);
    expect(runMoved([], dir, ['./g.mjs'], { nodeOptions: '-r ./pre/setup.cjs --import="./pre/setup.mjs"' })).toEqual(both);
  }, 70_000);

  it('beside flags a worker refuses in its own args (--expose-gc, --title, --openssl-legacy-provider), which act on the whole process anyway', () => {
    expect(runMoved(['--expose-gc', '--title=skein-chdir-test', '--import', 'tsx'], ROOT, ['./a.ts'])).toEqual([6]);
    const nodeOptions = '--title=skein-chdir-test --openssl-legacy-provider --import tsx';
    expect(runMoved(['--expose-gc'], ROOT, ['./a.ts'], { nodeOptions })).toEqual([6]);
  }, 70_000);

  it('what still resolves is left to Node: a move within the project, a dual package (its import entry), a builtin', () => {
    // Moving into a subfolder: tsx and `dual` still resolve by walking up, as they did before.
    const opts = { to: join(dir, 'sub') };
    expect(runMoved(['--expose-gc', '--import', 'dual'], dir, ['./which.mjs'], opts)).toEqual(['esm']);
    expect(runMoved(['--expose-gc'], dir, ['./which.mjs'], { ...opts, nodeOptions: '--openssl-legacy-provider --import dual' })).toEqual(['esm']);
    expect(runMoved(['--import', 'fs', '--import', 'node:path'], dir, ['./which.mjs'])).toEqual([null]);
  }, 70_000);
});

describe('pinNodeOptions', () => {
  it('pins only the preloads that no longer resolve, keeps every other token as written, and quotes what it changes', () => {
    // vitest runs from the repo root (where tsx resolves); `elsewhere` has no node_modules.
    const tsx = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
    expect(pinNodeOptions('--max-old-space-size=100 --import tsx "--title=a b"', elsewhere)).toBe(
      `--max-old-space-size=100 --import "${tsx}" "--title=a b"`,
    );
    expect(pinNodeOptions('--import=tsx', elsewhere)).toBe(`"--import=${tsx}"`);
    expect(pinNodeOptions(`-r ./package.json --import ${tsx}`, elsewhere)).toBe(`-r "${join(ROOT, 'package.json')}" --import ${tsx}`);
    expect(pinNodeOptions('--import tsx -r ./package.json', ROOT)).toBeUndefined(); // both resolve from there
    expect(pinNodeOptions('--enable-source-maps --import /abs/loader.mjs --import node:fs --import fs', elsewhere)).toBeUndefined();
    expect(pinNodeOptions('--import no-such-package-anywhere -r --no-warnings', elsewhere)).toBeUndefined();
  });
});
