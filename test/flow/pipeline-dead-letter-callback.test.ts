// An onDeadLetter that is async (it saves the letter somewhere): found by a review (helper-pipe).
// Its promise was dropped, so a rejection crashed the process as an unhandled rejection while the run
// went on, and the run could end (processBatch resolve) before a letter had been saved.
import { Pipeline } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { PoolBag } from '../fixtures/flow-helpers.js';

const bag = new PoolBag();
afterEach(() => bag.closeAll());

/** Unhandled rejections seen while `fn` runs (vitest would only report them after the test). */
async function unhandledDuring(fn: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const note = (err: unknown): void => {
    seen.push(err);
  };
  process.on('unhandledRejection', note);
  try {
    await fn();
    await new Promise((r) => setTimeout(r, 20)); // a rejection left unhandled is reported on a later turn
  } finally {
    process.off('unhandledRejection', note);
  }
  return seen;
}

describe('Pipeline: an onDeadLetter that returns a promise', () => {
  it('a rejection stops the run with its error, as a throw does, and is not left unhandled', async () => {
    const pool = bag.make(1);
    const saveFailed = new Error('could not save the dead letter');
    const p = new Pipeline<number>({ onDeadLetter: () => Promise.reject(saveFailed) }).stage<number>('even', { pool, fn: 'failIfOdd' });
    const unhandled = await unhandledDuring(async () => {
      await expect(p.processBatch([0, 1, 2, 4])).rejects.toBe(saveFailed);
    });
    expect(unhandled).toEqual([]);
  });

  it('the run ends only once every letter has been taken: no letter is still on its way when processBatch resolves', async () => {
    const pool = bag.make(1);
    const saved: number[] = [];
    const p = new Pipeline<number>({
      onDeadLetter: async (d) => {
        await new Promise((r) => setTimeout(r, 30));
        saved.push(d.input);
      },
    }).stage<number>('even', { pool, fn: 'failIfOdd' });
    expect(await p.processBatch([0, 1, 2, 3])).toEqual([0, 2]);
    expect(saved.sort()).toEqual([1, 3]);
  });
});
