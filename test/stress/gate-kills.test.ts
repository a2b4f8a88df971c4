// Stress for the ticket gate (src/sync/ticket-gate/gate.ts, invariants 1 and 3) with workers
// terminated at random moments while they wait, give up, or move the line on: bursts past the
// ring's slots behind a main thread that now and then holds nearly every permit (the waiters' walk
// past the given-up tickets when it lets go is when most kills are sent), blocking acquires with
// timeouts, tryAcquire. A terminated worker keeps what it holds (at least what it counted as held,
// at most that and what it had asked for without seeing the outcome yet, and one request's worth
// it was giving back) and its ticket stays in line until the waiters behind pass it. Never more permits out than the semaphore has; afterwards the line moves
// again, ends empty, and no permit was made up or lost beyond what the dead took along.
import { Worker } from 'node:worker_threads';
import { Semaphore } from 'skein/internal';
import { describe, expect, it } from 'vitest';
import { queued, sleep } from '../fixtures/sync-run.js';

const WORKER = new URL('../fixtures/gate-kill-worker.mjs', import.meta.url);
const PERMITS = 96;
const MAX_N = 4; // most permits one request of the workers takes
const WORKERS = 4;

describe('ticket gate with workers terminated mid-wait', () => {
  it('the line always moves on, and only what the dead held is gone', async () => {
    const sem = new Semaphore(PERMITS);
    const stats = new SharedArrayBuffer(8);
    const st = new Int32Array(stats);
    const KILLS = Number(process.env.GATE_KILLS ?? 6);
    const heldBuf = new SharedArrayBuffer(4 * (WORKERS + KILLS));
    const held = new Int32Array(heldBuf);
    const askedBuf = new SharedArrayBuffer(4 * (WORKERS + KILLS));
    const asked = new Int32Array(askedBuf);
    const stop = new SharedArrayBuffer(4);
    let seed = 0x9e3779b9;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 4294967296;
    };
    let slots = 0;
    const errors: unknown[] = [];
    const start = () => {
      const slot = slots++;
      const w = new Worker(WORKER, { workerData: { sem, slot, seed: 1 + slot * 7919, stats, held: heldBuf, asked: askedBuf, stop } });
      w.on('error', (err) => errors.push(err));
      return { w, slot };
    };
    let live = Array.from({ length: WORKERS }, start);
    const dead: number[] = [];
    const end = performance.now() + 3000;
    let holds = 0;
    let longest = 0;
    while (performance.now() < end) {
      // Now and then hold every permit a moment: the workers' waiters pile up past the ring.
      if (rnd() < 0.4) {
        const g = await sem.acquire(PERMITS - MAX_N * (dead.length + 1), { timeout: 2000 }).catch(() => undefined);
        if (g) {
          holds++;
          // Until the line is past the ring's 1024 slots, or 10-40 ms.
          for (const t = performance.now() + 10 + rnd() * 30; performance.now() < t && queued(sem) <= 1100; ) await sleep(1);
          longest = Math.max(longest, queued(sem));
          g.release();
        }
      } else {
        await sleep(rnd() * 40);
      }
      if (dead.length < KILLS && rnd() < 0.3) {
        // Mostly while the waiters walk past the tickets given up behind the hold just let go.
        if (rnd() < 0.5) for (const t = performance.now() + rnd() * 2; performance.now() < t; );
        const i = Math.floor(rnd() * live.length);
        const { w, slot } = live[i];
        await w.terminate();
        dead.push(slot);
        live[i] = start();
      }
    }
    Atomics.store(new Int32Array(stop), 0, 1);
    await Promise.all(live.map(({ w }) => new Promise((resolve) => w.once('exit', resolve))));
    live = [];
    expect(errors).toEqual([]);
    expect(Atomics.load(st, 1), 'more permits out than the semaphore has').toBe(0);
    // The dead's tickets, if any, are passed by this waiter, one per GATE_STALL_MS (1 s).
    const t0 = performance.now();
    const g = await sem.acquire(1, { timeout: 15_000 });
    const took = performance.now() - t0;
    g.release();
    const deadHeld = dead.reduce((a, s) => a + held[s], 0);
    const deadAsked = dead.reduce((a, s) => a + asked[s], 0);
    const avail = sem.available;
    console.log(
      `gate kills: ${dead.length} workers terminated, ${holds} holds (line up to ${longest}), the dead held ${deadHeld} and had asked for ${deadAsked} more; available ${avail} of ${PERMITS}; last acquire took ${took.toFixed(0)} ms`,
    );
    expect(queued(sem)).toBe(0);
    expect(longest).toBeGreaterThan(1024); // past the ring: given-up tickets' slots taken over, live ones' burned
    expect(avail + deadHeld).toBeLessThanOrEqual(PERMITS);
    expect(deadAsked).toBeLessThanOrEqual(MAX_N * dead.length);
    expect(avail + deadHeld + deadAsked + MAX_N * dead.length).toBeGreaterThanOrEqual(PERMITS);
    for (let s = 0; s < slots; s++) {
      if (dead.includes(s)) continue;
      expect(held[s]).toBe(0);
      expect(asked[s]).toBe(0);
    }
  }, 60_000);
});
