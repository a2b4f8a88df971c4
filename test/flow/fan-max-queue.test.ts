// fanOut and FanPattern on a pool with a maxQueue: like pool.map, they wait for room in the queue
// rather than failing with QueueFullError when their window is wider than the pool holds.
import { FanPattern, fanOut } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { PoolBag } from '../fixtures/flow-helpers.js';

const bag = new PoolBag();
afterEach(() => bag.closeAll());
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('fanOut on a pool with a maxQueue', () => {
  it('a window wider than workers + maxQueue waits for room (it failed with QueueFullError)', async () => {
    const pool = bag.make(1, { maxQueue: 1 });
    expect(await fanOut(range(30), pool, { fn: 'later', concurrency: 6 })).toEqual(range(30).map((x) => x + 1));
    // The default window (4 x cores) is wider than 1 worker + 1 queued.
    expect(await fanOut(range(30), pool, { fn: 'later' })).toEqual(range(30).map((x) => x + 1));
    expect(await new FanPattern<number, number>({ pool, fn: 'later', concurrency: 6 }).process(range(30))).toEqual(range(30).map((x) => x + 1));
  });

  it('maxQueue 0 (no queue): each task waits for a free worker', async () => {
    const pool = bag.make(2, { maxQueue: 0 });
    const out = await fanOut(range(40), pool, { fn: 'later', concurrency: 8, allSettled: true });
    expect(out).toEqual(range(40).map((x) => ({ status: 'fulfilled', value: x + 1 })));
  });
});
