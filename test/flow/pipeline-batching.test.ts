// How a pool stage's items go to its workers several to a task once their cost is known (about 16 ms
// of work per task), and what that must not cost:
// - Items slower than the estimate made such a task outlast the pool's `unhealthyAfter`, though
//   each item ended in time: getHealthStatus() read the worker as stuck, and a watchdog calling
//   restartUnhealthyWorkers() killed the batch. Each item done is now progress for the health check.
// - A part batch waits for more items while the pool has a backlog, but not when no more can come
//   (a `process()` call's one item).
// - Until the cost is known, items beyond one per worker wait for the first results rather than
//   queue as one-item tasks, also when no more can come (a `processBatch` that fits the window).
import { Pipeline } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { PoolBag } from '../fixtures/flow-helpers.js';
import { sleep, until } from '../fixtures/pool-helpers.js';

const bag = new PoolBag();
afterEach(() => bag.closeAll());
const LIMIT = 300;

describe('Pipeline: a batch of items slower than estimated is not a stuck worker', () => {
  it('stays healthy while each item ends within unhealthyAfter, and a watchdog restarts nothing', async () => {
    const pool = bag.make(1, { unhealthyAfter: LIMIT });
    const p = new Pipeline<{ id: number; ms: number }>({ ordered: false }).stage('s', { pool, fn: 'sleepy' });
    // Quick items first (the estimate: ~1 ms each, so batches of several), then items of 120 ms.
    const inputs = [...Array(200).keys()].map((id) => ({ id, ms: id < 160 ? 0 : 120 }));
    let running = true;
    const t0 = Date.now();
    const run = p.processBatch(inputs).finally(() => (running = false));
    let unhealthy = 0;
    let restarted = 0;
    while (running) {
      await sleep(25);
      if (!running) break;
      unhealthy += pool.getHealthStatus().filter((h) => !h.healthy).length;
      if (Date.now() - t0 > 2 * LIMIT) restarted += await pool.restartUnhealthyWorkers();
    }
    const out = await run;
    expect(out).toHaveLength(200);
    expect({ unhealthy, restarted }).toEqual({ unhealthy: 0, restarted: 0 });
  });
});

describe('Pipeline: a processBatch whose inputs all fit the window', () => {
  it('goes in batches once the first results give the cost, not one task per item', async () => {
    // Its source is read whole at once, so no more items can come; until 0ef564e's rule was narrowed
    // to a lone item, every one of them went as a one-item task while the cost was unknown.
    // A synchronous task of microseconds: its batches reach the cap (64 items per task on 2 workers)
    // whatever the load, so the count stays ~6 (a timer-based task's cost, and so its batch size,
    // rose with the machine's load).
    const pool = bag.make(2);
    const p = new Pipeline<number>({ ordered: false }).stage('s', { pool, fn: 'echo' });
    const out = await p.processBatch([...Array(200).keys()]);
    expect(out).toHaveLength(200);
    expect(pool.metrics().completed).toBeLessThan(50);
  });
});

describe('Pipeline: a process() call on a busy pool stage', () => {
  /**
   * Two held items keep the one worker busy and one task waiting in the pool (a backlog); a third
   * process() call has one item and nothing more to come: it must reach the pool now. `warm`
   * runs quick items through the pipeline first, so the stage's cost is known.
   */
  async function thirdReachesThePool(warm: boolean): Promise<void> {
    const counters = new Int32Array(new SharedArrayBuffer(8)); // [1] items holding
    const pool = bag.make(1, { workerData: { counters } });
    const p = new Pipeline<{ id: number; hold?: boolean }>().stage('s', { pool, fn: 'holdIf' });
    if (warm) await p.processBatch([...Array(200).keys()].map((id) => ({ id })));
    else await pool.submit({ id: 0 }, { fn: 'holdIf' }); // the worker is up; the pipeline has run nothing
    const held = [1, 2].map((id) => p.process({ id, hold: true }).catch(() => undefined));
    await until(() => Atomics.load(counters, 1) === 1 && pool.getQueueLength() === 1, 10_000, 'a backlog');
    const third = p.process({ id: 3 }).catch(() => undefined);
    await until(() => pool.getQueueLength() === 2, 5_000, 'the third item in the pool queue');
    await p.close();
    await Promise.all([...held, third]);
  }

  // Known cost: its items would go in batches. Held back for a batch, the third stayed out of the
  // queue until the backlog cleared, here never, and every call waiting so was woken each
  // millisecond: 4000 such calls took 3.4 s instead of 0.5.
  it('sends its one item to the pool at once, not held back for a fuller batch that cannot come', () =>
    thirdReachesThePool(true));

  // Unknown cost: items go one by one, and wait for the first results while the pool has a backlog
  // (so a run's first window does not queue up as one-item tasks), but not this one: nothing more
  // can come to its run. (It was held until the backlog cleared, here never.)
  it('sends it at once also while the stage cost is not known yet (items then go one by one)', () =>
    thirdReachesThePool(false));
});

describe('Pipeline: a batch of items slower than estimated, on a stage with a timeout', () => {
  it('is given the pool-level time of all its items, so none fails that ended within its own timeout', async () => {
    // Every stage has a timeout, so the pool's own time limit backs them (pool-segment.ts): one
    // item's timeout + 250 ms per item of the task. Given for a whole batch, the batch of slow
    // items below (each 100 ms, its timeout 200 ms) was killed and its running item failed.
    const pool = bag.make(1);
    const p = new Pipeline<{ id: number; ms: number }>({ ordered: false }).stage('s', { pool, fn: 'sleepy' }, { timeout: 200 });
    const inputs = [...Array(172).keys()].map((id) => ({ id, ms: id < 160 ? 0 : 100 }));
    const out = await p.processBatch(inputs);
    expect(out).toHaveLength(172);
    // The slow items did go several to a task (else this guards nothing).
    expect(pool.metrics().completed).toBeLessThan(150);
  });
});
