import { Worker } from 'node:worker_threads';
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

describe('SharedHistogram percentiles against a sorted-array model', () => {
  // Nearest rank: the q-quantile of n samples is the ceil(q * n)-th smallest. A histogram reports
  // the midpoint of that sample's bucket (four per doubling), capped at the max, so the answer lies
  // within 2^(1/8) of the true one; under 1 µs (bucket 0) it is at most 1 µs.
  const WIDTH = 2 ** (1 / 8) * (1 + 1e-9);
  it('p50, p90 and p99 are within a half bucket of the nearest-rank quantile', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.double({ min: 0, max: 0.01, noNaN: true }), fc.double({ min: 0, max: 1e6, noNaN: true })), {
          minLength: 1,
          maxLength: 300,
        }),
        fc.integer({ min: 1, max: 4 }),
        (xs, parts) => {
          const hs = Array.from({ length: parts }, () => new SharedHistogram());
          xs.forEach((x, i) => hs[i % parts].record(x));
          const s = summarize(hs);
          const sorted = [...xs].sort((a, b) => a - b);
          for (const [q, got] of [
            [0.5, s.p50],
            [0.9, s.p90],
            [0.99, s.p99],
          ] as const) {
            const truth = sorted[Math.ceil(q * xs.length) - 1];
            if (truth < 0.001) expect(got, `q=${q}`).toBeLessThanOrEqual(0.001);
            else {
              expect(got, `q=${q} truth=${truth}`).toBeLessThanOrEqual(truth * WIDTH);
              expect(got, `q=${q} truth=${truth}`).toBeGreaterThanOrEqual(truth / WIDTH);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('SharedHistogram bucket edges', () => {
  it('a bucket holds the values up to its upper edge, that edge included (as a Prometheus `le`)', () => {
    // Bucket 4k ends at 2^k µs: a sample of exactly 2^k µs counts there, one a hair above in 4k + 1.
    // (They counted one bucket higher, so /metrics left an on-edge sample out of its own `le`.)
    const h = new SharedHistogram();
    const words = new Int32Array(h.sab);
    const misplaced: string[] = [];
    for (let k = 0; k <= 24; k++) {
      for (const [us, want] of [
        [2 ** k, 4 * k],
        [2 ** k * 1.001, 4 * k + 1],
      ]) {
        h.reset();
        h.record(us / 1000);
        const at = words.slice(0, 126).findIndex((c) => c === 1);
        if (at !== want) misplaced.push(`${us} µs in bucket ${at}, not ${want}`);
      }
    }
    expect(misplaced).toEqual([]);
    // Percentiles of on-edge samples stay within their bucket and never pass the max.
    h.reset();
    for (const ms of [0.002, 1.024, 4.096]) h.record(ms);
    const s = h.summary();
    expect(s.max).toBe(4.096);
    expect(s.p50).toBeGreaterThan(1.024 / 2 ** (1 / 4));
    expect(s.p50).toBeLessThanOrEqual(1.024);
    expect(s.p99).toBeLessThanOrEqual(4.096);
  });
});

describe('SharedHistogram counts', () => {
  it('a bucket past 2^31 samples still counts up (its Int32 word is read unsigned), never negative', () => {
    const h = new SharedHistogram();
    h.record(1); // 1000 µs: bucket ceil(4 * log2(1000)) = 40
    const words = new Int32Array(h.sab);
    // As if 2^31 - 1 samples of 1 ms had been recorded (too many to record in a test).
    Atomics.store(words, 40, 0x7fffffff);
    Atomics.store(words, 126, 0x7fffffff);
    h.record(1);
    h.record(1);
    const s = h.summary();
    expect(s.count).toBe(2 ** 31 + 1);
    expect(s.p50).toBeGreaterThan(0.9);
    expect(s.p50).toBeLessThan(1.1);
    expect(h.mean()).toBeGreaterThan(0.9);
  });

  it('many worker threads recording into one histogram at once lose no sample', async () => {
    const h = new SharedHistogram();
    const go = new Int32Array(new SharedArrayBuffer(8));
    const workers = 4;
    const n = 100_000;
    const ms = [0.0005, 0.003, 0.2, 1, 7.5, 120, 3000];
    const threads = Array.from(
      { length: workers },
      () => new Worker(new URL('../fixtures/hist-recorder.mjs', import.meta.url), { workerData: { sab: h.sab, go, n, ms } }),
    );
    try {
      const done = threads.map((w) => new Promise((resolve, reject) => (w.once('message', resolve), w.once('error', reject))));
      while (Atomics.load(go, 1) < workers) await new Promise((r) => setTimeout(r, 5));
      Atomics.store(go, 0, 1);
      Atomics.notify(go, 0);
      // Read while they record: a snapshot never counts more samples than were recorded.
      let reads = 0;
      let finished = false;
      void Promise.all(done).then(() => (finished = true));
      while (!finished) {
        expect(h.summary().count).toBeLessThanOrEqual(workers * n);
        reads++;
        await new Promise((r) => setImmediate(r));
      }
      await Promise.all(done);
      expect(reads).toBeGreaterThan(0);
      const s = h.summary();
      expect(s.count).toBe(workers * n);
      expect(s.max).toBe(3000);
      // Per-value bucket counts: each worker recorded the values in turn.
      const words = new Int32Array(h.sab);
      const per = Math.floor(n / ms.length);
      for (const [k, v] of ms.entries()) {
        const us = v * 1000;
        const bucket = us <= 1 ? 0 : Math.ceil(4 * Math.log2(us));
        expect(words[bucket], `bucket of ${v} ms`).toBe(workers * (per + (k < n % ms.length ? 1 : 0)));
      }
      expect(words[126]).toBe(workers * n);
    } finally {
      await Promise.all(threads.map((w) => w.terminate()));
    }
  });
});
