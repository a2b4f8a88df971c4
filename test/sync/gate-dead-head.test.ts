// Gate invariant 3 (src/sync/ticket-gate/gate.ts): a waiter that dies in line keeps its ticket, and
// the waiters behind pass it once it stood still GATE_STALL_MS at the head with its permits free.
// Before the fix each call watched the head on its own (a fresh watch per acquire): callers whose
// timeouts were shorter than GATE_STALL_MS never watched long enough, so after one worker died in
// line every acquire with such a timeout timed out, and every tryAcquire failed, for good.
import { Worker } from 'node:worker_threads';
import { Semaphore, TimeoutError } from 'skein/internal';
import { describe, expect, it } from 'vitest';
import { queued, sleep, until } from '../fixtures/sync-run.js';

const DEAD = new URL('../fixtures/dead-waiter.mjs', import.meta.url);

/** Starts a worker blocked in acquireSync behind `held`, terminates it, then frees the permit. */
async function killAtHead(sem: Semaphore): Promise<void> {
  const held = sem.tryAcquire()!;
  const worker = new Worker(DEAD, { workerData: { op: 'semAcquireSync', obj: sem } });
  await until(() => queued(sem) === 1, 10_000, 'the worker to line up');
  await sleep(50);
  await worker.terminate(); // dies holding ticket 1
  held.release(); // its permit is free: the dead ticket is the head
}

describe('a dead head of the line is passed by callers with short timeouts', () => {
  it('acquire({ timeout: 100 }) in a loop gets the permit within seconds after a waiter died at the head', async () => {
    const sem = new Semaphore(1);
    await killAtHead(sem);
    const t0 = Date.now();
    let timeouts = 0;
    for (;;) {
      try {
        const g = await sem.acquire(1, { timeout: 100 });
        g.release();
        break;
      } catch (err) {
        expect(err).toBeInstanceOf(TimeoutError);
        timeouts++;
      }
      // before the fix: TimeoutError on every call, for as long as one cared to try
      if (Date.now() - t0 > 6000) expect.fail(`still no permit after ${timeouts} timed-out acquires`);
    }
    expect(sem.available).toBe(1);
    expect(queued(sem)).toBe(0);
    expect(sem.tryAcquire()).toBeDefined();
  }, 20_000);

  it('a tryAcquire poll gets the permit within seconds after a waiter died at the head', async () => {
    const sem = new Semaphore(1);
    await killAtHead(sem);
    const t0 = Date.now();
    let g = sem.tryAcquire();
    while (!g) {
      // before the fix: undefined for good (someone "waits": the dead ticket)
      if (Date.now() - t0 > 6000) expect.fail('tryAcquire still refused after 6 s');
      await sleep(20);
      g = sem.tryAcquire();
    }
    g.release();
    expect(sem.available).toBe(1);
    expect(queued(sem)).toBe(0);
  }, 20_000);
});
