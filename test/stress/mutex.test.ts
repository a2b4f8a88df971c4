// Stress: 8 workers and the main thread increment a plain (non-atomic) counter under one Mutex
// for a fixed time, some locks with tiny timeouts that run out; the counter must equal the number
// of successful lock holds exactly.
import { Mutex, pendingAsyncWaitCount } from 'skein/internal';
import { describe, expect, it } from 'vitest';
import { queued, runOp } from '../fixtures/sync-run.js';

describe('Mutex under stress', () => {
  it('8 workers (some with timeouts) + main: the plain counter is exact', async () => {
    const m = new Mutex();
    const counter = new SharedArrayBuffer(8);
    const f = new Float64Array(counter);
    const ms = 2500;
    const workers = Array.from({ length: 8 }, (_, i) =>
      runOp<{ ok: number; timeouts: number }>('mutexStress', {
        mutex: m,
        counter,
        ms,
        spins: 50 + 40 * i,
        timeoutEvery: i % 2 ? 3 : 0,
      }),
    );
    let mainOk = 0;
    let mainTimeouts = 0;
    for (let i = 0, end = performance.now() + ms; performance.now() < end; i++) {
      try {
        const g = await m.lock(i % 5 === 0 ? { timeout: 0 } : undefined);
        const x = f[0];
        if (i % 50 === 0) await new Promise((r) => setImmediate(r)); // hold it across an event-loop turn
        f[0] = x + 1;
        g.release();
        mainOk++;
      } catch {
        mainTimeouts++;
      }
    }
    const results = await Promise.all(workers);
    const ok = results.reduce((a, r) => a + r.ok, mainOk);
    const timeouts = results.reduce((a, r) => a + r.timeouts, mainTimeouts);
    expect(f[0]).toBe(ok);
    for (const r of results) expect(r.ok).toBeGreaterThan(10);
    expect(mainOk).toBeGreaterThan(10);
    expect(timeouts).toBeGreaterThan(0);
    expect(m.locked).toBe(false);
    expect(queued(m)).toBe(0);
    expect(pendingAsyncWaitCount()).toBe(0);
    console.log(`mutex stress: ${ok} locks, ${timeouts} timeouts in 2.5 s`);
  });
});
