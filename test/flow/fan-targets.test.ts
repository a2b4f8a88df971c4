// fanOut's and FanPattern's targets as a pipeline stage checks its own: a FanPattern with both a
// pool and a run function, a run that is a pool (or a pool that is a function), or `fn` beside a
// function were taken without a word (one target was used, fn ignored); each is an InvalidArgumentError.
import { FanPattern, fanOut, InvalidArgumentError } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { PoolBag } from '../fixtures/flow-helpers.js';

const bag = new PoolBag();
afterEach(() => bag.closeAll());
const double = (x: number): number => 2 * x;

describe('fanOut and FanPattern targets', () => {
  it('fn beside a function target is refused (fn names an export of a pool module)', () => {
    expect(() => fanOut([1], double, { fn: 'double' })).toThrow(InvalidArgumentError);
    expect(() => new FanPattern<number, number>({ run: double, fn: 'double' })).toThrow(InvalidArgumentError);
  });

  it('a FanPattern needs exactly one of pool and run, each of its kind', async () => {
    const pool = bag.make(1);
    expect(() => new FanPattern<number, number>({ pool, run: double } as never)).toThrow(/exactly one of pool and run/);
    expect(() => new FanPattern<number, number>({ pool: double } as never)).toThrow(/pool must be a WorkerPool/);
    expect(() => new FanPattern<number, number>({ run: pool } as never)).toThrow(/run must be a function/);
    expect(() => new FanPattern<number, number>({} as never)).toThrow(/exactly one of pool and run/);
    expect(await new FanPattern<number, number>({ pool, fn: 'double' }).process([1, 2])).toEqual([2, 4]);
    expect(await new FanPattern<number, number>({ run: double, pool: undefined } as never).process([1, 2])).toEqual([2, 4]);
  });
});
