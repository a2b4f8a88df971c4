// close(): graceful and forced, always settles, and a process whose pool is closed (or whose
// tasks all settled) exits by itself: checked in real child processes.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DynamicWorkerPool, InvalidArgumentError, PoolClosedError, WorkerPool } from 'skein';
import { poolPhase } from 'skein/internal';
import { afterEach, describe, expect, it } from 'vitest';
import { rejection, TASKS, until, within } from '../fixtures/pool-helpers.js';

let pool: WorkerPool | undefined;
afterEach(async () => {
  if (pool) await within(pool.close({ force: true }), 5000, 'close');
  pool = undefined;
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs a fixture script in a child `node` process, killing it after `limit` ms. 15 s: Node's start,
 * the pool's workers, the tasks and the exit can take seconds on a loaded machine, with several
 * children at once; the regressions these catch keep the process alive for good (or for the
 * scripts' 60 s timers), so a child killed at the limit still fails (signal SIGKILL).
 */
const LIMIT = 15_000;
function runScript(name: string, args: string[] = [], limit = LIMIT): Promise<Run> {
  const file = fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [file, ...args],
      { timeout: limit, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        resolve({
          code: child.exitCode,
          signal: child.signalCode ?? (err as { signal?: NodeJS.Signals } | null)?.signal ?? null,
          stdout,
          stderr,
          ms: Date.now() - t0,
        });
      },
    );
  });
}

describe('close()', () => {
  it('runs what is queued, then stops; later submits reject PoolClosedError', async () => {
    const p = (pool = new WorkerPool({ filename: TASKS, maxWorkers: 1 }));
    const tasks = Array.from({ length: 10 }, (_, i) => p.submit(20, { fn: 'spin' }).then(() => i));
    let closed = false;
    const c = p.close().then(() => (closed = true));
    expect(p.close()).toBe(p.close()); // idempotent: one promise
    const err = await rejection(p.submit(1));
    expect(err).toBeInstanceOf(PoolClosedError);
    expect(await Promise.all(tasks)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    await within(c, 3000, 'close');
    expect(closed).toBe(true);
    expect(p.getWorkerCount()).toBe(0);
    expect(await rejection(p.submitBatch([1, 2]))).toBeInstanceOf(PoolClosedError);
    const it = p.map([1, 2])[Symbol.asyncIterator]();
    expect(await rejection(it.next())).toBeInstanceOf(PoolClosedError);
    expect(p.metrics().completed).toBe(10);
  });

  it('a DynamicWorkerPool with no worker yet runs what was submitted just before close()', async () => {
    const p = (pool = new DynamicWorkerPool({ filename: TASKS, maxWorkers: 2 }));
    // Submitted and closed in one tick: before, the tasks reached the rings after close() began,
    // growth was refused while closing, no worker ever started and close() waited forever.
    const tasks = Array.from({ length: 20 }, (_, i) => p.submit(i));
    const c = p.close();
    expect(await within(Promise.all(tasks), 5000, 'tasks')).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await within(c, 5000, 'close');
    expect(p.getWorkerCount()).toBe(0);
  });

  it('close({ force: true }) rejects queued and running tasks with PoolClosedError and settles at once', async () => {
    const p = (pool = new WorkerPool({ filename: TASKS, maxWorkers: 1 }));
    await p.submit(0);
    const running = rejection(p.submit(5000, { fn: 'sleep' }));
    await until(() => p.metrics().busy === 1, 10_000);
    const queued = Array.from({ length: 5 }, (_, i) => rejection(p.submit(i)));
    const t0 = Date.now();
    await within(p.close({ force: true }), 2000, 'force close');
    expect(Date.now() - t0).toBeLessThan(2500); // generous: the running task alone would take 5 s
    for (const q of [running, ...queued]) expect(await q).toBeInstanceOf(PoolClosedError);
    expect(await rejection(p.submit(1))).toBeInstanceOf(PoolClosedError);
  });

  it('close({ force: true }) settles with a worker stuck in an endless loop', async () => {
    const p = (pool = new WorkerPool({ filename: TASKS, maxWorkers: 2 }));
    const stuck = rejection(p.submit(null, { fn: 'forever' }));
    await until(() => p.metrics().busy === 1, 10_000);
    await within(p.close({ force: true }), 3000, 'force close with a stuck worker');
    expect(await stuck).toBeInstanceOf(PoolClosedError);
    expect(p.getWorkerCount()).toBe(0);
  });

  it('Symbol.asyncDispose closes the pool', async () => {
    const p = new WorkerPool({ filename: TASKS, maxWorkers: 1 });
    expect(await p.submit(1)).toBe(1);
    await within(p[Symbol.asyncDispose](), 3000, 'dispose');
    expect(await rejection(p.submit(1))).toBeInstanceOf(PoolClosedError);
  });

  // Regression (fixed): close({ force: true }) after a graceful close() that waits on a stuck task returns the
  // first close's promise, so there is no way to escalate: both wait for the task to end.
  it('close({ force: true }) after a pending close() settles at once', async () => {
    const p = (pool = new WorkerPool({ filename: TASKS, maxWorkers: 1 }));
    const long = p.submit(3000, { fn: 'spin' }).catch(() => 'rejected');
    await until(() => p.metrics().busy === 1, 10_000);
    const graceful = p.close();
    await within(p.close({ force: true }), 1000, 'force close after close');
    await graceful;
    expect(await long).toBe('rejected');
  });

  // close() takes nothing or { force?: boolean }. Anything else was ignored: close('force') and
  // close(null) closed gracefully, close({ force: 'no' }) closed with force, all without a word.
  it('rejects an argument that is not { force?: boolean } with InvalidArgumentError, leaving the pool open', async () => {
    const p = (pool = new WorkerPool({ filename: TASKS, maxWorkers: 1 }));
    const running = p.submit(100, { fn: 'sleep' });
    const bad: [unknown, string][] = [
      ['force', 'Expected close options to be an object, got "force"'],
      [1, 'Expected close options to be an object, got 1'],
      [null, 'Expected close options to be an object, got null'],
      [true, 'Expected close options to be an object, got true'],
      [{ force: 'no' }, 'Expected close option force to be a boolean, got "no"'],
      [{ force: 1 }, 'Expected close option force to be a boolean, got 1'],
      // An array passed the object check and closed gracefully; an unknown key was ignored, so
      // close({ timeout: 5000 }) waited for a stuck task for ever.
      [[], 'Expected close options to be an object, got an array'],
      [{ timeout: 5000 }, "close options take only 'force', got 'timeout'"],
      [{ force: true, timeout: 5000, signal: null }, "close options take only 'force', got 'timeout', 'signal'"],
    ];
    for (const [arg, message] of bad) {
      const err = await rejection(p.close(arg as { force?: boolean }));
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(err.message).toBe(message);
    }
    // Nothing was closed: the pool is open, the running task finishes, new tasks run, and close() still works.
    expect(poolPhase(p)).toBe('open');
    expect(await running).toBe(100);
    expect(await p.submit(7)).toBe(7);
    expect(p.getWorkerCount()).toBe(1);
    const c = p.close();
    expect(await rejection(p.close('x' as never))).toBeInstanceOf(InvalidArgumentError); // also while closing
    expect(await rejection(p.close({ force: true, timeout: 1 } as never))).toBeInstanceOf(InvalidArgumentError);
    await within(c, 3000, 'close');
    expect(await rejection(p.submit(1))).toBeInstanceOf(PoolClosedError);
  });
});

describe('the process exits by itself', () => {
  it('after close(), without process.exit', async () => {
    const r = await runScript('pool-exit-close.mjs');
    expect(r.stderr).toBe('');
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ out: [1, 4, 5], batch: [2, 4, 6] });
    expect(r.ms).toBeLessThan(LIMIT);
  });

  it('after close({ force: true }) of a pool with a stuck worker', async () => {
    const r = await runScript('pool-exit-force.mjs');
    expect(r.stderr).toBe('');
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ stuck: 'PoolClosedError', queued: 'PoolClosedError' });
  });

  // Regression (fixed): a pool that is never closed keeps the process alive forever, even with nothing
  // submitted: WorkerEntry calls worker.unref() before spawnWorker adds the 'message' listener,
  // and adding that listener refs the worker's MessagePort again (process.getActiveResourcesInfo()
  // shows one 'MessagePort' per worker). DESIGN: no leaked handles; workers are unref'd.
  it('when the pool is never closed but every task settled (fixed and dynamic pools)', async () => {
    const [fixed, dynamic] = await Promise.all([
      runScript('pool-exit-noclose.mjs', ['fixed']),
      runScript('pool-exit-noclose.mjs', ['dynamic']),
    ]);
    for (const r of [fixed, dynamic]) {
      expect(r.stderr).toBe('');
      expect(r.signal).toBeNull();
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ out: [1, 4, 5], failed: 'ValidationError' });
      expect(r.ms).toBeLessThan(LIMIT);
    }
  });

  // Regression: a pool that gave up on its workers (WorkerModuleError, WorkerSetupError,
  // WorkerBootError) rejected its tasks but left their slots and ring records in use, so it read as
  // busy for ever (isIdle() false, getQueueLength() 3) and its result loop kept the process alive.
  it('when the pool broke (its workers cannot start) and is never closed', async () => {
    const cases = [
      ['load', 'fixed', 'WorkerModuleError'],
      ['setup', 'dynamic', 'WorkerSetupError'],
      ['exit', 'dynamic', 'WorkerBootError'],
      ['timeout', 'fixed', 'WorkerBootError'],
    ] as const;
    const runs = await Promise.all(cases.map(([mod, kind]) => runScript('pool-exit-broken.mjs', [mod, kind])));
    runs.forEach((r, i) => {
      const name = cases[i][2];
      // A module whose top-level await never settles: Node 24 warns of it in each worker that
      // ends with it pending (Node 20 does not). That is Node's word on the user's module, not ours.
      const stderr = cases[i][0] === 'timeout' ? r.stderr.replace(/Warning: Detected unsettled top-level await[^\n]*\n[^\n]*\n[^\n]*\^\s*/g, '') : r.stderr;
      expect({ case: cases[i], signal: r.signal, code: r.code, stderr }).toEqual({
        case: cases[i],
        signal: null,
        code: 0,
        stderr: '',
      });
      expect(JSON.parse(r.stdout)).toEqual({ errors: [name, name, name], idle: true, queued: 0, inFlight: 0 });
    });
  });
});
