// A stage's breaker with functions (fallback, isFailure): they work on a `run` stage, which calls
// the breaker on this thread. A pool stage's breaker runs in the workers, which get its shared state
// but not its functions: the fallback was never called there (items became dead letters with
// BrokenCircuitError while the stage's docs promised the fallback's value as their output), and
// errors isFailure said to ignore opened it. Such a breaker is refused when the stage is added.
import { BrokenCircuitError, CircuitBreaker, InvalidArgumentError, Pipeline } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { PoolBag } from '../fixtures/flow-helpers.js';

const bag = new PoolBag();
afterEach(() => bag.closeAll());

function openBreaker(fns: { fallback?: () => number; isFailure?: () => boolean }): CircuitBreaker<unknown> {
  const b = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 60_000, ...fns });
  b.forceOpen();
  return b as CircuitBreaker<unknown>;
}

describe('Pipeline: a stage breaker with fallback or isFailure', () => {
  it('a run stage uses its fallback for the items it refuses', async () => {
    const p = new Pipeline<number>().stage('a', { run: (x: number) => x + 1 }, { breaker: openBreaker({ fallback: () => -1 }) });
    expect(await p.processBatch([1, 2])).toEqual([-1, -1]);
  });

  it('a pool stage, alone or fused, refuses one at stage() instead of ignoring its functions', () => {
    const pool = bag.make(1);
    for (const fns of [{ fallback: () => -1 }, { isFailure: () => false }]) {
      expect(() => new Pipeline<number>().stage('a', { pool, fn: 'inc' }, { breaker: openBreaker(fns) })).toThrow(InvalidArgumentError);
      expect(() => new Pipeline<number>().stage('a', { pool, fn: 'inc', breaker: openBreaker(fns) })).toThrow(/fallback and isFailure cannot go/);
      expect(() =>
        new Pipeline<number>().stage('a', { pool, fn: 'inc' }).stage('b', { pool, fn: 'inc' }, { breaker: openBreaker(fns) }),
      ).toThrow(/stage 'b': a pool stage's breaker runs in the pool's workers/);
    }
  });

  it('a pool stage still takes a breaker without functions, and it works in the workers', async () => {
    const pool = bag.make(1);
    const letters: { error: unknown }[] = [];
    const p = new Pipeline<number>({ onDeadLetter: (l) => void letters.push(l) })
      .stage('a', { pool, fn: 'inc' })
      .stage('b', { pool, fn: 'inc' }, { breaker: openBreaker({}) });
    expect(await p.processBatch([1, 2])).toEqual([]);
    expect(letters.map((l) => l.error instanceof BrokenCircuitError)).toEqual([true, true]);
  });
});
