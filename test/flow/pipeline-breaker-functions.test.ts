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

// A pool stage's breaker is rebuilt in the workers from its handle as the one shared kind, a plain
// CircuitBreaker: a subclass's execute (logging, metrics, its own verdicts) never ran for the stage's
// items, without a word. Such a breaker is refused when the stage is added, as one with functions is.
describe('Pipeline: a stage breaker whose class overrides execute', () => {
  class Logged extends CircuitBreaker {
    readonly calls: number[] = [];
    override execute<T>(...args: Parameters<CircuitBreaker['execute']>): Promise<T> {
      this.calls.push(1);
      return super.execute(...args) as Promise<T>;
    }
  }
  class Quiet extends CircuitBreaker {
    /** A method of its own, and an override of one the workers never call: nothing is lost there. */
    opened(): boolean {
      return this.state === 'open';
    }
    override reset(): void {
      super.reset();
    }
  }

  it('a pool stage, alone or fused, refuses it at stage(), naming the override and the way out', () => {
    const pool = bag.make(1);
    expect(() => new Pipeline<number>().stage('a', { pool, fn: 'inc' }, { breaker: new Logged() })).toThrow(InvalidArgumentError);
    expect(() => new Pipeline<number>().stage('a', { pool, fn: 'inc', breaker: new Logged() })).toThrow(
      /stage 'a': a pool stage's breaker runs in the pool's workers as a plain CircuitBreaker, so the execute override of Logged would never run there: give it a plain CircuitBreaker .*or make it a \{ run \} stage/,
    );
    expect(() =>
      new Pipeline<number>().stage('a', { pool, fn: 'inc' }).stage('b', { pool, fn: 'inc' }, { breaker: new Logged() }),
    ).toThrow(/stage 'b': .*execute override of Logged/);
    // An execute set on the object itself is lost the same way.
    const own = new CircuitBreaker();
    const base = own.execute.bind(own);
    Object.defineProperty(own, 'execute', { value: (fn: () => unknown) => base(fn) });
    expect(() => new Pipeline<number>().stage('a', { pool, fn: 'inc' }, { breaker: own })).toThrow(/execute override/);
  });

  it('a pool stage takes a subclass that overrides nothing the workers run; a run stage runs the override', async () => {
    const pool = bag.make(1);
    const quiet = new Quiet();
    expect(await new Pipeline<number>().stage<number>('a', { pool, fn: 'inc' }, { breaker: quiet }).processBatch([1, 2])).toEqual([2, 3]);
    expect(quiet.metrics().successes).toBe(2);
    const logged = new Logged();
    expect(await new Pipeline<number>().stage('a', { run: (x: number) => x + 1 }, { breaker: logged }).processBatch([1, 2])).toEqual([2, 3]);
    expect(logged.calls.length).toBe(2);
  });
});
