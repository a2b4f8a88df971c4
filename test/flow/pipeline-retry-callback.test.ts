// A stage whose RetryPolicy's retryIf throws: the item is a dead letter of that stage (the
// callback's error, the try's error as its cause), the others go through, the run ends.
import { type DeadLetter, Pipeline, RetryPolicy } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { PoolBag } from '../fixtures/flow-helpers.js';

const bag = new PoolBag();
afterEach(() => bag.closeAll());

/** A policy whose retryIf throws a fresh Error('retryIf bug') each time it is asked. */
const throwingRetry = (): RetryPolicy =>
  new RetryPolicy({
    maxAttempts: 5,
    initialDelay: 1,
    retryIf: () => {
      throw new Error('retryIf bug');
    },
  });

describe('Pipeline: a stage whose retryIf throws', () => {
  it('a pool stage: the failing items are dead letters, tried once, with the worker error as cause', async () => {
    const pool = bag.make(2);
    const letters: DeadLetter[] = [];
    const p = new Pipeline<number>({ onDeadLetter: (d) => letters.push(d) })
      .stage<number>('inc', { pool, fn: 'inc' })
      .stage<number>('even', { pool, fn: 'failIfOdd' }, { retry: throwingRetry() });
    const out = await p.processBatch([0, 1, 2, 3, 4]); // odd after inc: 0, 2, 4 fail
    expect(out.sort()).toEqual([2, 4]);
    expect(letters.map((d) => d.input).sort()).toEqual([0, 2, 4]);
    for (const d of letters) {
      expect(d.stage).toBe('even');
      expect(d.attempts).toBe(1);
      expect((d.error as Error).message).toBe('retryIf bug');
      expect(((d.error as Error).cause as Error).message).toBe(`odd ${(d.input as number) + 1}`);
    }
    expect(p.metrics().stages[1].retried).toBe(0);
  });

  it('a main-thread stage: the same, the stage error reachable as cause', async () => {
    const letters: DeadLetter[] = [];
    const errs: Error[] = [];
    const p = new Pipeline<number>({ onDeadLetter: (d) => letters.push(d) }).stage<number>(
      'check',
      {
        run: (x: number) => {
          if (x < 0) {
            const e = new RangeError(`negative ${x}`);
            errs.push(e);
            throw e;
          }
          return x;
        },
      },
      { retry: throwingRetry() },
    );
    expect(await p.processBatch([1, -1, 2])).toEqual([1, 2]);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ input: -1, stage: 'check', attempts: 1 });
    expect(errs).toHaveLength(1);
    expect((letters[0].error as Error).message).toBe('retryIf bug');
    expect((letters[0].error as Error).cause).toBe(errs[0]);
  });
});
