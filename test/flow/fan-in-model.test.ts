// fanIn against a simple model (fast-check), many sources at once, and the item type of mixed
// sources. The merge once scanned every source per item (quadratic in sources); the 20k-source case
// is here for its answer (every item once, in the strategy's order), not its speed.
import fc from 'fast-check';
import { fanIn, type FanInStrategy } from 'skein';
import { describe, expect, expectTypeOf, it } from 'vitest';

/**
 * The order a merge of synchronous sources yields. Every source is asked once at the start, in index
 * order, and a source whose item is taken is asked again before the next pick, so:
 * arrival and round-robin take the sources with items left in turn; priority drains the lowest
 * first; a function picks among the ready sources, listed by index.
 */
function model(sources: number[][], strategy: FanInStrategy<number>): number[] {
  const pos = sources.map(() => 0);
  const out: number[] = [];
  if (strategy === 'priority') return sources.flat();
  if (typeof strategy === 'function') {
    for (;;) {
      const ready = sources.flatMap((s, i) => (pos[i] < s.length ? [i] : []));
      if (ready.length === 0) return out;
      const i = ready[strategy(ready.map((r) => ({ source: r, value: sources[r][pos[r]] })))];
      out.push(sources[i][pos[i]++]);
    }
  }
  const turn = sources.flatMap((s, i) => (s.length > 0 ? [i] : []));
  while (turn.length > 0) {
    const i = turn.shift() as number;
    out.push(sources[i][pos[i]++]);
    if (pos[i] < sources[i].length) turn.push(i);
  }
  return out;
}

async function drain<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('fanIn against a model', () => {
  const strategies: FanInStrategy<number>[] = ['arrival', 'round-robin', 'priority', (ready) => ready.length - 1, (ready) => Math.max(0, ready.findIndex((c) => c.value % 2 === 0))];

  it('synchronous sources: the order the model gives, under every strategy', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(fc.integer({ min: 0, max: 99 }), { maxLength: 6 }), { maxLength: 8 }), fc.constantFrom(...strategies), async (sources, strategy) => {
        expect(await drain(fanIn(sources, { strategy }))).toEqual(model(sources, strategy));
      }),
      { numRuns: 300 },
    );
  });

  it('asynchronous sources with random delays: every item once, each source in its own order', async () => {
    const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 5 }), { minLength: 1, maxLength: 5 }), fc.constantFrom(...strategies), async (delays, strategy) => {
        async function* src(i: number, ds: number[]): AsyncGenerator<number> {
          for (const [k, d] of ds.entries()) {
            if (d > 0) await tick(d);
            yield i * 100 + k;
          }
        }
        const out = await drain(fanIn(delays.map((ds, i) => src(i, ds)), { strategy }));
        expect([...out].sort((a, b) => a - b)).toEqual(delays.flatMap((ds, i) => ds.map((_, k) => i * 100 + k)));
        for (const [i] of delays.entries()) {
          const mine = out.filter((x) => Math.floor(x / 100) === i);
          expect(mine).toEqual([...mine].sort((a, b) => a - b));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('20k sources: every item once, in the strategy order', async () => {
    const sources = Array.from({ length: 20_000 }, (_, i) => [i, i + 20_000]);
    const arrival = await drain(fanIn(sources));
    expect(arrival).toEqual(model(sources, 'arrival'));
    const priority = await drain(fanIn(sources, { strategy: 'priority' }));
    expect(priority).toEqual(sources.flat());
    const rr = await drain(fanIn(sources, { strategy: 'round-robin' }));
    expect(rr).toEqual(model(sources, 'round-robin'));
  });

  it('the item type is the union of the sources item types', async () => {
    async function* nums(): AsyncGenerator<number> {
      yield 1;
    }
    const merged = fanIn([['a', 'b'], nums()]);
    expectTypeOf(merged).toEqualTypeOf<AsyncIterableIterator<string | number>>();
    expect((await drain(merged)).sort()).toEqual([1, 'a', 'b']);
    // A type given by hand still works.
    expectTypeOf(fanIn<number>([[1], [2]])).toEqualTypeOf<AsyncIterableIterator<number>>();
  });
});
