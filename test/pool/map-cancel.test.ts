// pool.map ending early cancels its tasks still in the pool: queued ones never run, running ones
// see ctx.signal fire (before, the pool ran the whole window for outputs nobody read, and close()
// waited for them). With the caller's signal, each task watches it: the abort cancels the queued
// ones before it aborts the running ones (memory/signal-watch.ts calls the newest first). Tasks: waitForAbort marks counters[id] 1 when it starts, 2 when its signal
// aborted it, 3 when it ran to its end.
import { AbortError, WorkerPool } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { rejection, sharedCounters, sleep, TASKS, until, within } from '../fixtures/pool-helpers.js';

const STARTED = 1;
const ABORTED = 2;

let pool: WorkerPool | undefined;
afterEach(async () => {
  await pool?.close({ force: true });
  pool = undefined;
});

/** Two workers, one task each at a time; twelve tasks: id 1 quick, the rest long. */
function setUp(): { counters: Int32Array; inputs: { id: number; ms: number }[] } {
  const counters = sharedCounters(16);
  pool = new WorkerPool({ filename: TASKS, minWorkers: 2, maxWorkers: 2, workerData: { counters } });
  const inputs = Array.from({ length: 12 }, (_, k) => ({ id: k + 1, ms: k === 0 ? 5 : 20_000 }));
  return { counters, inputs };
}

const states = (c: Int32Array): number[] => Array.from(c.subarray(1, 13));

describe('pool.map ending early', () => {
  it('a break cancels the rest: queued tasks never run, running ones are aborted, close() is prompt', async () => {
    const { counters, inputs } = setUp();
    const p = pool as WorkerPool;
    for await (const id of p.map<number>(inputs, { fn: 'waitForAbort', ordered: false })) {
      expect(id).toBe('finished');
      // Break only once a long task runs: on a loaded machine the second worker may still be
      // starting when the quick task's result arrives, and then there is nothing running to abort.
      await until(() => states(counters).slice(1).includes(STARTED), 5000, 'a long task running');
      break;
    }
    // The other worker was running a long task: it sees its signal fire.
    await until(() => states(counters).filter((s) => s === STARTED).length === 0, 3000, 'running tasks aborted');
    const after = states(counters);
    expect(after.filter((s) => s === ABORTED).length).toBeGreaterThanOrEqual(1);
    await sleep(200);
    expect(states(counters)).toEqual(after); // nothing queued started afterwards
    expect(after.filter((s) => s === 0).length).toBeGreaterThanOrEqual(9);
    await within(p.close(), 2000, 'close after the map ended');
  });

  it("the caller's signal ends the map with an AbortError and cancels its tasks", async () => {
    const { counters, inputs } = setUp();
    const p = pool as WorkerPool;
    const ac = new AbortController();
    const seen: unknown[] = [];
    const run = (async () => {
      for await (const v of p.map(inputs.slice(1), { fn: 'waitForAbort', signal: ac.signal })) seen.push(v);
    })();
    // A fresh pool: both workers must boot first, which a loaded machine can take seconds to do.
    await until(() => states(counters).filter((s) => s === STARTED).length === 2, 15_000, 'two tasks running');
    ac.abort();
    expect(await rejection(run)).toBeInstanceOf(AbortError);
    await until(() => states(counters).filter((s) => s === STARTED).length === 0, 3000, 'running tasks aborted');
    await sleep(200);
    expect(states(counters).slice(1).filter((s) => s === 0).length).toBe(9); // ids 2-12: 11 long tasks, 2 ran
    expect(seen).toEqual([]);
  });

  it('a map that runs to its end leaves the pool as it was', async () => {
    const { counters } = setUp();
    const p = pool as WorkerPool;
    const out: unknown[] = [];
    for await (const v of p.map([1, 2, 3].map((id) => ({ id, ms: 1 })), { fn: 'waitForAbort' })) out.push(v);
    expect(out).toEqual(['finished', 'finished', 'finished']);
    expect(states(counters).slice(0, 3)).toEqual([3, 3, 3]);
    expect(await p.submit(7)).toBe(7);
  });
});
