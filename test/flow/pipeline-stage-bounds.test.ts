// A stage concurrency too large to hold its slots: found by a review (helper-pipe). `concurrency: 1e9`
// was taken by stage() and ended the process at the first run with a fatal out-of-memory error;
// Number.MAX_SAFE_INTEGER threw a RangeError ('Invalid array length') from processStream.
import { InvalidArgumentError, Pipeline } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { PoolBag } from '../fixtures/flow-helpers.js';

const bag = new PoolBag();
afterEach(() => bag.closeAll());

describe('Pipeline: a stage concurrency past what a stage can hold', () => {
  it('is refused by name at stage() and filter(), never at the run', () => {
    const pool = bag.make(1);
    for (const concurrency of [1e9, Number.MAX_SAFE_INTEGER]) {
      expect(() => new Pipeline<number>().stage('a', { run: (x: number) => x }, { concurrency })).toThrow(InvalidArgumentError);
      expect(() => new Pipeline<number>().stage('a', { pool, fn: 'inc', concurrency })).toThrow(/concurrency to be an integer from 1 to/);
      expect(() => new Pipeline<number>().stage('a', { pool, fn: 'inc' }).filter(() => true, { concurrency })).toThrow(InvalidArgumentError);
    }
  });

  it('a large one in range runs', async () => {
    const pool = bag.make(1);
    const p = new Pipeline<number>().stage('a', { run: (x: number) => x }, { concurrency: 2 ** 20 }).stage<number>('b', { pool, fn: 'inc', concurrency: 2 ** 20 });
    expect(await p.processBatch([1, 2])).toEqual([2, 3]);
  });
});
