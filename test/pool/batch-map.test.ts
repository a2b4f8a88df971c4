// submitBatch and map: order, first error, laziness over endless inputs with a bounded window.
import { InvalidArgumentError, WorkerPool } from 'skein';
import { afterAll, describe, expect, it } from 'vitest';
import { rejection, sleep, TASKS, until, within } from '../fixtures/pool-helpers.js';

const pool = new WorkerPool({ filename: TASKS, maxWorkers: 2 });
afterAll(() => pool.close({ force: true }));

/** An endless generator of 0, 1, 2, ... that counts how many values were pulled. */
function counting(): { gen: Generator<number>; pulled: () => number; finished: () => boolean } {
  let n = 0;
  let done = false;
  function* g(): Generator<number> {
    try {
      for (;;) yield n++;
    } finally {
      done = true;
    }
  }
  return { gen: g(), pulled: () => n, finished: () => done };
}

describe('submitBatch', () => {
  it('keeps input order across workers', async () => {
    const inputs = Array.from({ length: 5000 }, (_, i) => i);
    expect(await pool.submitBatch(inputs, { fn: 'double' })).toEqual(inputs.map((i) => i * 2));
    // Tasks of different lengths finish out of order; results do not.
    const ms = [40, 1, 30, 1, 20, 1, 10, 1];
    expect(await pool.submitBatch(ms, { fn: 'sleep' })).toEqual(ms);
    expect(await pool.submitBatch([])).toEqual([]);
    expect(await pool.submitBatch(new Set([1, 2, 3]))).toEqual([1, 2, 3]);
  });

  it('a non-iterable input rejects with InvalidArgumentError (before: a TypeError thrown from the call)', async () => {
    let thrown: unknown;
    let p: Promise<unknown> | undefined;
    try {
      p = pool.submitBatch(5 as never);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeUndefined();
    expect(await rejection(p as Promise<unknown>)).toBeInstanceOf(InvalidArgumentError);
  });

  it('rejects with the first error', async () => {
    const err = await rejection(pool.submitBatch([1, 2, 'boom', 4], { fn: 'throwIfString' }));
    expect(err.message).toBe('boom');
    const many = await rejection(pool.submitBatch(['a', 'b', 'c'], { fn: 'fail' }));
    expect(many.name).toBe('ValidationError');
    expect(['a', 'b', 'c']).toContain(many.message);
    // A slow good item does not hold the rejection back.
    const t0 = Date.now();
    const fast = await rejection(
      Promise.race([pool.submitBatch([2000, 'x'], { fn: 'throwIfString' }), sleep(8000).then(() => 'late')]),
    );
    expect(Date.now() - t0).toBeLessThan(1500); // generous, yet short of the slow item's 2 s
    expect(fast).toBeInstanceOf(Error);
    expect(await pool.submit(1)).toBe(1); // the pool is fine afterwards
    await until(() => pool.isIdle(), 5000); // the 2 s task still ran
  });
});

describe('map', () => {
  it('bad inputs or window are refused with InvalidArgumentError at the call, not a hang', async () => {
    // Before, a window of 0, -1 or NaN (or a string) submitted nothing and waited for a result for
    // ever; a non-iterable input failed later with a TypeError ("Cannot use 'in' operator").
    for (const window of [0, -1, Number.NaN, 1.5, '8']) {
      expect(() => pool.map([1, 2], { window: window as number }), `window ${String(window)}`).toThrow(InvalidArgumentError);
    }
    expect(() => pool.map(5 as never)).toThrow(InvalidArgumentError);
    expect(() => pool.map([1], { ordered: 'yes' as never })).toThrow(InvalidArgumentError);
    const out: unknown[] = [];
    for await (const v of pool.map([1, 2], { fn: 'double', window: 1 })) out.push(v);
    expect(out).toEqual([2, 4]);
  });

  it('ordered: yields outputs in input order', async () => {
    const out: number[] = [];
    for await (const v of pool.map<number>([40, 1, 30, 1, 20, 1], { fn: 'sleep' })) out.push(v);
    expect(out).toEqual([40, 1, 30, 1, 20, 1]);
  });

  it('unordered: yields every output as it finishes', async () => {
    const out: number[] = [];
    for await (const v of pool.map<number>([150, 1, 1, 1], { fn: 'sleep', ordered: false })) out.push(v);
    expect([...out].sort((a, b) => a - b)).toEqual([1, 1, 1, 150]);
    expect(out[out.length - 1]).toBe(150);
  });

  it('is lazy over an endless generator, with at most `window` tasks ahead of the consumer', async () => {
    const src = counting();
    const window = 16;
    let taken = 0;
    let maxAhead = 0;
    for await (const v of pool.map<number>(src.gen, { fn: 'double', window })) {
      expect(v).toBe(taken * 2);
      taken++;
      maxAhead = Math.max(maxAhead, src.pulled() - taken);
      if (taken === 500) break;
    }
    expect(maxAhead).toBeLessThanOrEqual(window);
    const pulledAtBreak = src.pulled();
    expect(pulledAtBreak).toBeLessThanOrEqual(500 + window);
    await sleep(100);
    expect(src.pulled()).toBe(pulledAtBreak); // nothing pulled after the consumer stopped
    expect(await pool.submit(3)).toBe(3);
  });

  // Regression (fixed): breaking out of map() never calls return() on the input iterator, so a generator's
  // finally block (closing a file, a cursor) never runs; for-of / for-await close it.
  it('breaking out of map closes the input iterator', async () => {
    const src = counting();
    for await (const v of pool.map<number>(src.gen, { window: 8 })) if (v === 10) break;
    await sleep(50);
    expect(src.finished()).toBe(true);
  });

  it('an endless unordered map with the default window stays bounded too', async () => {
    const src = counting();
    const seen = new Set<number>();
    for await (const v of pool.map<number>(src.gen, { ordered: false })) {
      seen.add(v);
      if (seen.size === 2000) break;
    }
    expect(seen.size).toBe(2000);
    expect(src.pulled()).toBeLessThan(2000 + 64 * 32 + 1);
  });

  it('takes async iterables', async () => {
    async function* slow(): AsyncGenerator<number> {
      for (let i = 0; i < 20; i++) {
        if (i % 5 === 0) await sleep(5);
        yield i;
      }
    }
    const out: number[] = [];
    for await (const v of pool.map<number>(slow(), { fn: 'double' })) out.push(v);
    expect(out).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
  });

  it('unordered: an error surfaces when it arrives', async () => {
    const out: number[] = [];
    const err = await rejection(
      (async () => {
        for await (const v of pool.map<number>([300, 'boom', 1], { fn: 'throwIfString', ordered: false }))
          out.push(v);
      })(),
    );
    expect(err.message).toBe('boom');
    expect(out).not.toContain(300);
  });

  it('ordered map of 20k items keeps order; submitBatch of 100k is fast enough', async () => {
    let i = 0;
    for await (const v of pool.map<number>(
      (function* () {
        for (let k = 0; k < 20_000; k++) yield k;
      })(),
    )) {
      expect(v).toBe(i++);
    }
    expect(i).toBe(20_000);
    const t0 = Date.now();
    const out = await within(
      pool.submitBatch(Array.from({ length: 100_000 }, (_, k) => k)),
      10_000,
      'batch 100k',
    );
    expect(out[99_999]).toBe(99_999);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('the error of a middle item surfaces after the items before it', async () => {
    const out: number[] = [];
    const err = await rejection(
      (async () => {
        for await (const v of pool.map<number>([1, 2, 'boom', 4], { fn: 'throwIfString' })) out.push(v);
      })(),
    );
    expect(err.message).toBe('boom');
    expect(out).toEqual([1, 2]);
  });
});
