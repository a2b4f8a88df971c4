import { deadlineFor, fastNow, now } from 'skein/internal';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runOp, sleep } from '../fixtures/sync-run.js';

describe('now()', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('never goes backwards', () => {
    let last = now();
    for (let i = 0; i < 100_000; i++) {
      const t = now();
      expect(t >= last).toBe(true);
      last = t;
    }
  });

  it('counts milliseconds', async () => {
    const t0 = now();
    const d0 = Date.now();
    await sleep(60);
    const dt = now() - t0;
    const dd = Date.now() - d0;
    expect(dt).toBeGreaterThanOrEqual(55);
    expect(Math.abs(dt - dd)).toBeLessThan(20);
  });

  it("agrees across threads: a worker's reading lies between two main-thread readings around it", async () => {
    for (let round = 0; round < 3; round++) {
      const before = now();
      const readings = await Promise.all([
        runOp<number>('clock'),
        runOp<number>('clock'),
        runOp<number>('clock'),
      ]);
      const after = now();
      for (const w of readings) {
        expect(w).toBeGreaterThanOrEqual(before);
        expect(w).toBeLessThanOrEqual(after);
      }
    }
  });

  it('fake timers that replace process.hrtime drive it', () => {
    vi.useFakeTimers({ toFake: ['hrtime'] });
    const t0 = now();
    vi.advanceTimersByTime(1500);
    expect(now() - t0).toBeCloseTo(1500, 3);
  });
});

describe('deadlineFor()', () => {
  it('is Infinity without a timeout, now() + timeout with one', () => {
    expect(deadlineFor(undefined)).toBe(Number.POSITIVE_INFINITY);
    expect(deadlineFor(Number.POSITIVE_INFINITY)).toBe(Number.POSITIVE_INFINITY);
    const before = now();
    const d = deadlineFor(250);
    expect(d).toBeGreaterThanOrEqual(before + 250);
    expect(d).toBeLessThanOrEqual(now() + 250);
  });
});

describe('fastNow()', () => {
  it('stays on the shared clock through a second of busy work (performance.now() drifts against it)', () => {
    const end = now() + 1000;
    let worst = 0;
    while (now() < end) {
      const a = now();
      const f = fastNow();
      const b = now();
      worst = Math.max(worst, a - f, f - b);
    }
    expect(worst).toBeLessThan(0.5);
  });
});
