// A pool worker registers the shared kinds and error classes of every layer before its task
// module (src/worker-preload.ts), so what arrives in a fresh worker's first task is live even when
// the task module imports nothing of skein: a shared object as its class, skein's errors as their
// own classes (not stand-ins of their names). Also under tsx, whose require hook turned a
// synchronous require() of skein's modules into a second copy of them (a lazy loading of the kinds
// was dropped for that).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BrokenCircuitError, FixedWorkerPool, RwLock, WaitGroup } from 'skein';
import { describe, expect, it } from 'vitest';
import { TASKS, trackPools } from '../fixtures/pool-helpers.js';

const track = trackPools();

describe('shared kinds and error classes in a fresh worker', () => {
  it('arrive live under tsx too', () => {
    const fixture = fileURLToPath(new URL('../fixtures/kinds-under-tsx.mjs', import.meta.url));
    const out = execFileSync(process.execPath, ['--import', 'tsx', fixture], { encoding: 'utf8', timeout: 60_000 });
    expect(out.trim()).toBe(JSON.stringify(['Semaphore < SharedObjectBase', 'BrokenCircuitError < SkeinError']));
  }, 70_000);


  it('a shared object in the first task input arrives live', async () => {
    const pool = track(new FixedWorkerPool(1, { filename: TASKS }));
    const wg = new WaitGroup();
    wg.add(1);
    expect(await pool.submit(wg, { fn: 'wgDone' })).toBe('WaitGroup');
    expect(wg.count).toBe(0); // the worker's done() reached this group's memory
  });

  it('an error of a resilience class in the first task input arrives as that class', async () => {
    const pool = track(new FixedWorkerPool(1, { filename: TASKS }));
    // Its real class (under SkeinError), not a stand-in of its name made directly under Error.
    expect(await pool.submit(new BrokenCircuitError('open'), { fn: 'classesOf' })).toEqual([
      'BrokenCircuitError < SkeinError',
      true,
      'open',
    ]);
  });

  it('kinds of several layers arrive live one after another', async () => {
    const pool = track(new FixedWorkerPool(1, { filename: TASKS }));
    expect(await pool.submit(new BrokenCircuitError('first'), { fn: 'classesOf' })).toEqual([
      'BrokenCircuitError < SkeinError',
      true,
      'first',
    ]);
    expect(await pool.submit(new RwLock(), { fn: 'classesOf' })).toEqual(['RwLock < WordObjectBase < SharedObjectBase', false, undefined]);
    const wg = new WaitGroup();
    wg.add(1);
    expect(await pool.submit(wg, { fn: 'wgDone' })).toBe('WaitGroup');
  });
});
