// How task modules load as users write them: tsc's CommonJS output, TypeScript under tsx (Node 20
// registers tsx's hooks on the main thread only), and a relative filename that does not resolve.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, WorkerPool } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url);
const pools: WorkerPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close({ force: true })));
});

describe('task module loading', () => {
  it("runs tsc's CommonJS output (exports.default = fn) by its default and named functions", async () => {
    const pool = new WorkerPool({ filename: fixture('pool-tsc-cjs.cjs'), maxWorkers: 1 });
    pools.push(pool);
    expect(await pool.submit(21)).toBe(42);
    expect(await pool.submit('hi', { fn: 'shout' })).toBe('HI');
    // A typed pool names the default export 'default' (typeof import gives it that key).
    expect(await pool.submit(4, { fn: 'default' })).toBe(8);
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
