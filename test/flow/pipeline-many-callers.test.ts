// Many concurrent process() calls on one busy stage (an HTTP handler per request): each release of
// a slot woke every waiting run, so n waiting callers cost O(n^2) wake-ups: 5 000 calls of a
// concurrency-4 stage took ~17 s on the 2-core machine (~0.3 s with first-come wake-ups). Found by
// a review (rev-pipe). The bound below is wide on both sides of that gap.
import { Pipeline } from 'skein';
import { describe, expect, it } from 'vitest';

describe('Pipeline: many concurrent process() calls on a busy stage', () => {
  it('are served first come first, in time linear in their number', async () => {
    const order: number[] = [];
    const p = new Pipeline<number>().stage(
      'io',
      {
        run: async (x: number) => {
          order.push(x);
          await new Promise((r) => setImmediate(r));
          return x * 2;
        },
      },
      { concurrency: 4 },
    );
    const n = 5_000;
    const t0 = performance.now();
    const out = await Promise.all(Array.from({ length: n }, (_, i) => p.process(i)));
    const ms = performance.now() - t0;
    expect(out).toEqual(Array.from({ length: n }, (_, i) => i * 2));
    expect(ms).toBeLessThan(5_000);
    // Callers that had to wait are served in the order they called.
    expect(order).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(p.metrics()).toMatchObject({ inFlight: 0 });
    expect(p.metrics().stages[0]).toMatchObject({ inFlight: 0, queued: 0, done: n });
  }, 60_000);
});
