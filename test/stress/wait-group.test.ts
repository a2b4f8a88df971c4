// Stress: 1000 rounds of a WaitGroup shared by 4 doer workers, 2 waiting workers and the main
// thread. No wait may return before every piece of its round is done.
import { pendingAsyncWaitCount, WaitGroup } from 'skein/internal';
import { describe, expect, it } from 'vitest';
import { runOp } from '../fixtures/sync-run.js';

describe('WaitGroup under stress', () => {
  it('1000 rounds across 6 workers and main: no wait returns early, the count ends at zero', async () => {
    const wg = new WaitGroup();
    const round = new SharedArrayBuffer(4);
    const counts = new SharedArrayBuffer(8);
    const rv = new Int32Array(round);
    const c = new Int32Array(counts);
    const rounds = 1000;
    const doers = 4;
    const pieces = 25;
    const perRound = doers * pieces;
    const common = { wg, round, counts, rounds, perRound, pieces };
    const workers = [
      ...Array.from({ length: doers }, () => runOp('wgRounds', { ...common, role: 'doer' })),
      runOp('wgRounds', { ...common, role: 'waiter' }),
      runOp('wgRounds', { ...common, role: 'waiter' }),
    ];
    for (let r = 1; r <= rounds; r++) {
      wg.add(perRound);
      Atomics.store(rv, 0, r);
      Atomics.notify(rv, 0);
      await wg.wait({ timeout: 10_000 });
      expect(Atomics.load(c, 0)).toBe(r * perRound); // every piece of this round, none of the next
    }
    await Promise.all(workers);
    expect(Atomics.load(c, 1)).toBe(0); // no worker's waitSync returned early
    expect(wg.count).toBe(0);
    expect(pendingAsyncWaitCount()).toBe(0);
  });
});
