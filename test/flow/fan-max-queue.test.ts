// fanOut and FanPattern on a pool with a maxQueue: like pool.map, they wait for room in the queue
// rather than failing with QueueFullError when their window is wider than the pool holds.
import { FanPattern, fanOut, PoolClosedError } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { PoolBag } from '../fixtures/flow-helpers.js';

const bag = new PoolBag();
afterEach(() => bag.closeAll());
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('fanOut on a pool with a maxQueue', () => {
  it('a pool closed with force while tasks wait for room settles each of them', async () => {
    // With maxQueue 0 the running count of a worker stopped with force may stay as it was: a wait
    // for room then never ended, and the call never settled. (First in the file: run after the
    // other cases in this process, it settled all the same; why was not traced.)
    for (let round = 0; round < 2; round++) {
      const counters = new Int32Array(new SharedArrayBuffer(8)); // [1]: sleepy tasks begun
      const pool = bag.make(1, { maxQueue: 0, workerData: { counters } });
      const run = fanOut(range(12).map(() => ({ ms: 10_000 })), pool, { fn: 'sleepy', concurrency: 6, allSettled: true });
      const deadline = performance.now() + 5000;
      while (Atomics.load(counters, 1) < 1 && performance.now() < deadline) await tick(10);
      await tick(300); // the others are waiting for room
      await pool.close({ force: true });
      const out = await Promise.race([run, tick(3000).then(() => 'hung')]);
      expect(out).not.toBe('hung');
      for (const o of out as PromiseSettledResult<unknown>[]) {
        expect(o.status === 'rejected' && o.reason instanceof PoolClosedError).toBe(true);
      }
    }
  });

  it('a window wider than workers + maxQueue waits for room (it failed with QueueFullError)', async () => {
    const pool = bag.make(1, { maxQueue: 1 });
    expect(await fanOut(range(30), pool, { fn: 'later', concurrency: 6 })).toEqual(range(30).map((x) => x + 1));
    // The default window (4 x cores) is wider than 1 worker + 1 queued.
    expect(await fanOut(range(30), pool, { fn: 'later' })).toEqual(range(30).map((x) => x + 1));
    expect(await new FanPattern<number, number>({ pool, fn: 'later', concurrency: 6 }).process(range(30))).toEqual(range(30).map((x) => x + 1));
  });

  it('FanPattern.processStream (a pipeline stage) waits for room too', async () => {
    const pool = bag.make(1, { maxQueue: 0 });
    const out: number[] = [];
    for await (const x of new FanPattern<number, number>({ pool, fn: 'later' }).processStream(range(300))) out.push(x);
    expect(out).toEqual(range(300).map((x) => x + 1));
  });

  it('maxQueue 0 (no queue): each task waits for a free worker', async () => {
    const pool = bag.make(2, { maxQueue: 0 });
    const out = await fanOut(range(40), pool, { fn: 'later', concurrency: 8, allSettled: true });
    expect(out).toEqual(range(40).map((x) => ({ status: 'fulfilled', value: x + 1 })));
  });
});
