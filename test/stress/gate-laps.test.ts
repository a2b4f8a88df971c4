// Stress for the ticket gate's laps (src/sync/ticket-gate/gate.ts, invariants 5 and 6): heads
// that cannot go on for a while (all permits held), bursts of more waiters than the ring has slots
// that mostly time out behind them (their slots taken over by later tickets, live tickets' slots
// burned), and workers taking and timing out meanwhile, sync and async. Never more permits in use
// than there are, every waiter without a timeout is served, and at the end every permit is back and
// no ticket is left in line.
import { pendingAsyncWaitCount, Semaphore, TimeoutError } from 'skein/internal';
import { describe, expect, it } from 'vitest';
import { queued, runOp } from '../fixtures/sync-run.js';

interface StressResult {
  ok: number;
  timeouts: number;
}

async function hammerLaps(sem: Semaphore, ms: number): Promise<void> {
  const p = sem.permits;
  const stats = new SharedArrayBuffer(16);
  const st = new Int32Array(stats); // [0] in use, [1] max in use, [2] times over, [3] acquires done
  const plan = [
    { weights: [1], mode: 'sync', timeoutEvery: 2 },
    { weights: [1, p], mode: 'sync', timeoutEvery: 3 },
    { weights: [1, 2], mode: 'async', timeoutEvery: 2 },
    { weights: [p, 1], mode: 'mixed', timeoutEvery: 1 },
  ];
  const workers = plan.map((o) => runOp<StressResult>('semStress', { sem, stats, ms, spins: 200, ...o }));
  const use = async (w: number, opts?: { timeout: number }): Promise<boolean> => {
    let g;
    try {
      g = await sem.acquire(w, opts);
    } catch (err) {
      expect(err).toBeInstanceOf(TimeoutError);
      return false;
    }
    const inUse = Atomics.add(st, 0, w) + w;
    if (inUse > p) Atomics.add(st, 2, 1);
    Atomics.sub(st, 0, w);
    Atomics.add(st, 3, 1);
    g.release();
    return true;
  };
  let bursts = 0;
  let served = 0;
  let longest = 0;
  for (const end = performance.now() + ms; performance.now() < end; bursts++) {
    // Hold every permit for a while: the waiters pile up behind the head.
    const hold = await sem.acquire(p);
    const live = [use(p), use(1), use(1)]; // no timeout: they must all be served
    const burst = Array.from({ length: 1300 }, (_, i) => use(1 + (i % p), { timeout: 1 + (i % 120) }));
    longest = Math.max(longest, queued(sem));
    await new Promise((r) => setTimeout(r, 60));
    hold.release();
    const done = await Promise.all([...live, ...burst]);
    expect(done.slice(0, live.length)).toEqual([true, true, true]);
    served += done.filter(Boolean).length;
  }
  const results = await Promise.all(workers);
  expect(longest).toBeGreaterThan(1300); // past the ring: tickets handed out over given-up ones
  expect(served).toBeGreaterThan(bursts * 3); // some of the bursts were served too
  for (const r of results) expect(r.ok).toBeGreaterThan(0);
  expect(Atomics.load(st, 2)).toBe(0);
  expect(Atomics.load(st, 1)).toBeLessThanOrEqual(p);
  expect(sem.available).toBe(p);
  expect(queued(sem)).toBe(0);
  expect(pendingAsyncWaitCount()).toBe(0);
  const ok = results.reduce((a, r) => a + r.ok, 0);
  const timeouts = results.reduce((a, r) => a + r.timeouts, 0);
  console.log(`gate laps stress: ${bursts} bursts (${served} served on main, line up to ${longest}), workers ${ok} ok, ${timeouts} timed out`);
}

describe('ticket gate laps under stress', () => {
  it('bursts past the ring behind held permits, 4 workers meanwhile: never over, nothing left', async () => {
    await hammerLaps(new Semaphore(2), 3000);
  }, 60_000);

  it('the same across the wrap of the ticket numbers', async () => {
    const sem = new Semaphore(3);
    const v = new Int32Array(sem.handle.sab); // documented layout: slot 1 NEXT, slot 2 SERVING
    v[1] = 0x7fffffff - 3000;
    v[2] = 0x7fffffff - 3000;
    await hammerLaps(sem, 2000);
    expect(v[1]).toBeLessThan(0); // the tickets did wrap
  }, 60_000);
});
