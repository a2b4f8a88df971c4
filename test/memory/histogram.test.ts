import fc from 'fast-check';
import { SharedHistogram, summarize } from 'skein/internal';
import { describe, expect, it } from 'vitest';

describe('SharedHistogram summaries', () => {
  it('one sample: mean and percentiles never pass the max (136.07 ms once gave a mean of 142.9)', () => {
    const h = new SharedHistogram();
    h.record(136.07);
    const s = h.summary();
    expect(s.count).toBe(1);
    expect(s.max).toBeCloseTo(136.07, 2);
    expect(s.mean).toBeLessThanOrEqual(s.max);
    expect(s.p50).toBeLessThanOrEqual(s.max);
    expect(s.p99).toBeLessThanOrEqual(s.max);
  });

  it('for any samples: count exact, max exact to 1 µs, p50 <= p90 <= p99 <= max, mean <= max', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1e5, noNaN: true }), { minLength: 1, maxLength: 200 }), (xs) => {
        const a = new SharedHistogram();
        const b = new SharedHistogram();
        xs.forEach((x, i) => (i % 2 ? a : b).record(x));
        const s = summarize([a, b]);
        expect(s.count).toBe(xs.length);
        expect(Math.abs(s.max - Math.max(...xs))).toBeLessThanOrEqual(0.001);
        expect(s.p50).toBeLessThanOrEqual(s.p90);
        expect(s.p90).toBeLessThanOrEqual(s.p99);
        expect(s.p99).toBeLessThanOrEqual(s.max);
        expect(s.mean).toBeLessThanOrEqual(s.max);
      }),
    );
  });

  it('mean() alone equals the summary mean, and is 0 when empty', () => {
    expect(new SharedHistogram().mean()).toBe(0);
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1e5, noNaN: true }), { minLength: 1, maxLength: 200 }), (xs) => {
        const h = new SharedHistogram();
        for (const x of xs) h.record(x);
        expect(h.mean()).toBeCloseTo(h.summary().mean, 9);
        // within a bucket's width (about 19%) of the true mean, or under 1 µs apart
        const truth = xs.reduce((a, b) => a + b, 0) / xs.length;
        expect(Math.abs(h.mean() - truth)).toBeLessThanOrEqual(truth * 0.2 + 0.001);
      }),
    );
  });
});
