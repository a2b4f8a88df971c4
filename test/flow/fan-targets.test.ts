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

// FanPattern's errors named fanOut (its process() runs on fanOut) or "the pipeline" (its
// processStream() runs on a Pipeline): a user of FanPattern never called either.
describe("FanPattern's errors name FanPattern and the method", () => {
  const failure = async (f: () => unknown): Promise<Error> => {
    try {
      const r = await f();
      if (r && typeof r === 'object' && Symbol.asyncIterator in r) for await (const _ of r as AsyncIterable<unknown>);
    } catch (err) {
      return err as Error;
    }
    throw new Error('it did not fail');
  };
  const badNext = { [Symbol.iterator]: () => ({ next: () => 3 }) } as unknown as Iterable<number>;

  it('a bad option at the constructor', () => {
    expect(() => new FanPattern<number, number>({ run: double, fn: 'double' })).toThrow(
      "fn names an export of a pool's task module; FanPattern was given a function",
    );
  });

  it('a source that is not iterable, a source whose next() is broken, an aborted signal', async () => {
    const pool = bag.make(1);
    const ac = new AbortController();
    ac.abort();
    for (const target of [{ run: double }, { pool, fn: 'double' }] as const) {
      const fan = new FanPattern<number, number>(target);
      const stopped = new FanPattern<number, number>({ ...target, signal: ac.signal });
      for (const m of ['process', 'processSettled', 'processStream'] as const) {
        const notIterable = await failure(() => fan[m](5 as never));
        expect(notIterable).toBeInstanceOf(InvalidArgumentError);
        expect(notIterable.message).toBe(`FanPattern.${m} needs an Iterable or an AsyncIterable of inputs`);
        const broken = await failure(() => fan[m](badNext));
        expect(broken).toBeInstanceOf(TypeError);
        expect(broken.message).toBe(`FanPattern.${m}'s source: next() gave 3, not an iterator result object`);
        const aborted = await failure(() => stopped[m]([1]));
        expect(aborted.name).toBe('AbortError');
        expect(aborted.message).toBe(`FanPattern.${m} was aborted`);
      }
    }
    // fanOut and Pipeline keep their own words.
    expect(() => fanOut(5 as never, double)).toThrow('fanOut needs an Iterable or an AsyncIterable of inputs');
    expect(() => fanOut([1], double, { fn: 'double' })).toThrow('fanOut was given a function');
  });
});
