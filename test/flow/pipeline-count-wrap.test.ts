// A stage's counts (done, failed, retried, deadLettered) are 32-bit words shared by every thread.
// Read signed, they went negative past 2^31 items of one stage (about 6 hours at 100k items/s), and
// so did `throughput`; they now read unsigned (2^32 - 1 before a wrap to 0, a counter reset).
import { Pipeline } from 'skein';
import { pipelineStatsWords, STAGE_DONE, STAGE_WORDS } from 'skein/internal';
import { afterEach, describe, expect, it } from 'vitest';
import { PoolBag } from '../fixtures/flow-helpers.js';

const bag = new PoolBag();
afterEach(() => bag.closeAll());

describe('Pipeline metrics past 2^31 items of a stage', () => {
  it('count on, not negative', async () => {
    const pool = bag.make(1);
    const p = new Pipeline<number>().stage('a', { pool, fn: 'echo' }).stage('b', { run: (x: unknown) => x });
    expect(await p.processBatch([1])).toEqual([1]);
    const words = pipelineStatsWords(p);
    if (!words) throw new Error('no stats words after a run');
    for (const j of [0, 1]) Atomics.store(words, j * STAGE_WORDS + STAGE_DONE, 0x7fffffff); // 2^31 - 1 done
    expect(await p.processBatch([2])).toEqual([2]);
    const [a, b] = p.metrics().stages;
    expect(a.done).toBe(2 ** 31);
    expect(b.done).toBe(2 ** 31);
    expect(a.throughput).toBeGreaterThan(0);
  });
});
