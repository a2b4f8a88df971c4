// The async waiters of one thread on one gate share one sleep (src/sync/ticket-gate/sleeper.ts).
// Their deadlines are in a heap: a wake-up at a deadline times out the waiters past theirs and
// looks at no other. Before, each such wake-up walked every waiter of the thread to find the
// expired ones and the next deadline, so 2000 short timeouts behind 30k waiting acquires kept the
// main thread's event loop busy all the time (utilization 0.98 over the second they took; now
// about 0.2). A pump woken just short of a deadline also slept again for a fraction of a
// millisecond, which ends at once: it spun through thousands of such sleeps.
import { Semaphore, TimeoutError } from 'skein/internal';
import { describe, expect, it } from 'vitest';
import { heapGrowth } from '../fixtures/channel-helpers.js';
import { queued } from '../fixtures/sync-run.js';

describe('the gate sleeper with many waiters', () => {
  it('times out 2000 waiters spread over a second behind 30k others without keeping the loop busy', async () => {
    const sem = new Semaphore(1);
    const held = sem.tryAcquire()!;
    const long = Array.from({ length: 30_000 }, () =>
      sem.acquire(1, { timeout: 120_000 }).then(
        (g) => g.release(),
        (e: unknown) => e,
      ),
    );
    const e0 = performance.eventLoopUtilization();
    const t0 = performance.now();
    const short = await Promise.allSettled(
      Array.from({ length: 2000 }, (_, i) => sem.acquire(1, { timeout: 20 + i * 0.5 })),
    );
    const elu = performance.eventLoopUtilization(e0).utilization;
    const ms = performance.now() - t0;
    console.log(`2000 timeouts behind 30k waiters: ${Math.round(ms)} ms, event loop utilization ${elu.toFixed(2)}`);
    expect(short.every((r) => r.status === 'rejected' && r.reason instanceof TimeoutError)).toBe(true);
    expect(elu).toBeLessThan(0.6);
    held.release();
    await Promise.all(long);
    expect(sem.available).toBe(1);
    expect(queued(sem)).toBe(0);
  }, 60_000);
});

describe('the gate sleeper behind a live waiter', () => {
  it('does not keep the waiters that timed out behind it', async () => {
    // One waiter with no timeout at the head of this thread's line, then 100k that time out
    // behind it. Their tickets are given up and their slots taken by later tickets, so all of them
    // got a place in line (gate.ts, invariant 5) and the sleeper's line grows past its live head.
    // Settled waiters used to leave that line only at its front: all 100k were kept (about 60 MB)
    // until the head was served. Now they are swept out once they are half of it.
    const sem = new Semaphore(1);
    const held = sem.tryAcquire()!;
    const head = sem.acquire();
    const grown = await heapGrowth(async () => {
      for (let wave = 0; wave < 40; wave++) {
        const r = await Promise.allSettled(Array.from({ length: 2500 }, () => sem.acquire(1, { timeout: 1 })));
        expect(r.every((x) => x.status === 'rejected' && x.reason instanceof TimeoutError)).toBe(true);
      }
    });
    console.log(`heap grew ${(grown / 2 ** 20).toFixed(1)} MiB over 100k timed-out waiters behind a live one`);
    expect(grown).toBeLessThan(8 * 2 ** 20);
    held.release();
    (await head).release();
    expect(sem.available).toBe(1);
    expect(queued(sem)).toBe(0);
  }, 60_000);
});
