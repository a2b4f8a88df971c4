// A pool worker loads the shared kinds and error classes of the memory, sync and resilience layers
// only when the first one arrives (src/worker-preload.ts, src/memory/lazy-kinds.ts, on a Node with
// require(esm)), so a pipeline that never sends one starts sooner. What arrives must be what
// arrived when they were loaded up front: the task module here imports nothing of skein, so only
// that load can make these live.
import { BrokenCircuitError, FixedWorkerPool, RwLock, WaitGroup } from 'skein';
import { describe, expect, it } from 'vitest';
import { TASKS, trackPools } from '../fixtures/pool-helpers.js';

const track = trackPools();

describe('shared kinds and error classes in a fresh worker', () => {
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
    expect(await pool.submit(new BrokenCircuitError('open'), { fn: 'errorClassOf' })).toEqual([
      'BrokenCircuitError < SkeinError',
      true,
      'open',
    ]);
  });

  it('kinds of every layer arrive live once the first has loaded them', async () => {
    const pool = track(new FixedWorkerPool(1, { filename: TASKS }));
    expect(await pool.submit(new BrokenCircuitError('first'), { fn: 'errorClassOf' })).toEqual([
      'BrokenCircuitError < SkeinError',
      true,
      'first',
    ]);
    expect(await pool.submit(new RwLock(), { fn: 'errorClassOf' })).toEqual(['RwLock < WordObjectBase < SharedObjectBase', false, undefined]);
    const wg = new WaitGroup();
    wg.add(1);
    expect(await pool.submit(wg, { fn: 'wgDone' })).toBe('WaitGroup');
  });
});
