import { Worker } from 'node:worker_threads';
import { LeakyBucket, now, SlidingWindowLimiter, TokenBucket } from 'skein/internal';
import { describe, expect, it } from 'vitest';

const HAMMER = new URL('../fixtures/limiter-hammer.mjs', import.meta.url);

interface Limiter {
  handle: unknown;
  tryAcquire(): boolean;
}

/**
 * Runs `workers` threads hammering `limiter` for `ms` and returns what they counted. Once all are
 * ready the main thread reads t0 and lets them go; each admission checks
 * `admitted <= burst + perMs * (now - t0)` on the shared clock. Limiters must hold that bound from
 * any instant (they hold at most `burst` at t0), so the check is tight: no start-up slack.
 */
async function hammer(
  limiter: Limiter,
  opts: { workers: number; ms: number; mode: 'try' | 'acquire'; burst: number; perMs: number },
): Promise<{ admitted: number; violations: number; refused: number; elapsed: number }> {
  const counts = new Int32Array(new SharedArrayBuffer(20));
  const start = new Float64Array(new SharedArrayBuffer(8));
  const kind = limiter.constructor.name;
  const { ms, mode, burst, perMs } = opts;
  const threads = Array.from(
    { length: opts.workers },
    () => new Worker(HAMMER, { workerData: { kind, limiter, counts, start, ms, mode, burst, perMs } }),
  );
  const exits = threads.map(
    (w) =>
      new Promise<void>((resolve, reject) => {
        w.once('error', reject);
        w.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exit ${code}`))));
      }),
  );
  for (;;) {
    const ready = Atomics.load(counts, 4);
    if (ready === opts.workers) break;
    await Atomics.waitAsync(counts, 4, ready, 1000).value;
  }
  const t0 = now();
  start[0] = t0;
  Atomics.store(counts, 3, 1);
  Atomics.notify(counts, 3);
  await Promise.all(exits);
  return { admitted: counts[0], violations: counts[1], refused: counts[2], elapsed: now() - t0 };
}

describe('TokenBucket shared by worker threads', () => {
  it('two workers spinning on tryAcquire get at most capacity + rate * t between them', async () => {
    // A burst worth 100 ms, so that a worker the OS puts aside for a while loses no tokens.
    const bucket = new TokenBucket({ capacity: 2000, refillPerSecond: 20_000 });
    const r = await hammer(bucket, { workers: 2, ms: 300, mode: 'try', burst: 2000, perMs: 20 });
    expect(r.violations).toBe(0);
    expect(r.admitted).toBeLessThanOrEqual(2000 + 20 * r.elapsed);
    // ...and the limiter is not simply refusing everything (loose: the machine may be busy).
    expect(r.admitted).toBeGreaterThan(2000); // refilled past the burst (a rate bound would flake when CI starves the workers)
    expect(r.refused).toBeGreaterThan(0);
  });

  it('two workers waiting in acquire share the same budget', async () => {
    const bucket = new TokenBucket({ capacity: 5, refillPerSecond: 500 });
    const r = await hammer(bucket, { workers: 2, ms: 300, mode: 'acquire', burst: 5, perMs: 0.5 });
    expect(r.violations).toBe(0);
    expect(r.admitted).toBeLessThanOrEqual(5 + 0.5 * r.elapsed);
    expect(r.admitted).toBeGreaterThan(5); // leaked past the capacity
  });
});

describe('LeakyBucket shared by worker threads', () => {
  it('tryAcquire from two workers passes at most capacity + rate * t', async () => {
    const bucket = new LeakyBucket({ capacity: 2000, leakPerSecond: 20_000 });
    const r = await hammer(bucket, { workers: 2, ms: 300, mode: 'try', burst: 2000, perMs: 20 });
    expect(r.violations).toBe(0);
    expect(r.admitted).toBeLessThanOrEqual(2000 + 20 * r.elapsed);
    expect(r.admitted).toBeGreaterThan(2000); // refilled past the burst (a rate bound would flake when CI starves the workers)
  });

  it('acquire from two workers leaves at the steady rate', async () => {
    const bucket = new LeakyBucket({ capacity: 4, leakPerSecond: 500 });
    const r = await hammer(bucket, { workers: 2, ms: 300, mode: 'acquire', burst: 1, perMs: 0.5 });
    // Calls that only ever wait in acquire pass one per interval: a burst of 1, not `capacity`.
    expect(r.violations).toBe(0);
    expect(r.admitted).toBeLessThanOrEqual(1 + 0.5 * r.elapsed);
    expect(r.admitted).toBeGreaterThan(2); // it keeps leaking
  });
});

describe('SlidingWindowLimiter shared by worker threads', () => {
  // At most `limit` per window means at most limit + limit * elapsed / window since any instant.
  it('tryAcquire from two workers never passes limit per window', async () => {
    const limiter = new SlidingWindowLimiter({ windowMs: 100, limit: 1000 });
    const r = await hammer(limiter, { workers: 2, ms: 300, mode: 'try', burst: 1000, perMs: 10 });
    expect(r.violations).toBe(0);
    expect(r.admitted).toBeLessThanOrEqual(1000 + 10 * r.elapsed);
    expect(r.admitted).toBeGreaterThan(1000); // the window slid (a rate bound would flake when CI starves the workers)
  });

  it('a tryAcquire loop in a worker does not starve acquires of the main thread', async () => {
    // Two slots free every 50 ms. A waiting acquire wakes on a timer when its slot frees; a worker
    // looping on tryAcquire took every freed slot first, so no acquire got one within its timeout.
    const limiter = new SlidingWindowLimiter({ windowMs: 50, limit: 2 });
    const looping = hammer(limiter, { workers: 1, ms: 1500, mode: 'try', burst: 2, perMs: 2 / 50 });
    await new Promise((r) => setTimeout(r, 300)); // the worker is looping, the window full
    const outcomes: string[] = [];
    for (let i = 0; i < 4; i++) {
      outcomes.push(await limiter.acquire({ timeout: 1000 }).then(() => 'admitted', (err: Error) => err.name));
    }
    const r = await looping;
    expect(outcomes).toEqual(['admitted', 'admitted', 'admitted', 'admitted']);
    expect(r.violations).toBe(0);
  });

  it('acquire from two workers fills each window and no more', async () => {
    const limiter = new SlidingWindowLimiter({ windowMs: 20, limit: 4 });
    const r = await hammer(limiter, { workers: 2, ms: 300, mode: 'acquire', burst: 4, perMs: 0.2 });
    expect(r.violations).toBe(0);
    expect(r.admitted).toBeLessThanOrEqual(4 + 0.2 * r.elapsed);
    expect(r.admitted).toBeGreaterThan(4); // windows keep opening past the first
  });
});
