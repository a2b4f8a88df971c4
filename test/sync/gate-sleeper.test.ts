// The async waiters of one thread on one gate share one sleep (src/sync/ticket-gate/sleeper.ts).
// Their deadlines are in a heap: a wake-up at a deadline times out the waiters past theirs and
// looks at no other. Before, each such wake-up walked every waiter of the thread to find the
// expired ones and the next deadline, so 2000 short timeouts behind 30k waiting acquires kept the
// main thread's event loop busy all the time (utilization 0.98 over the second they took; now
// about 0.2). A pump woken just short of a deadline also slept again for a fraction of a
// millisecond, which ends at once: it spun through thousands of such sleeps.
import { Semaphore, TimeoutError } from 'skein/internal';
import { describe, expect, it } from 'vitest';
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
