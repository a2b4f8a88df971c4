// Issue 17: a thread killed while it waits in a ticket line (Mutex lockSync / lock, Semaphore
// acquireSync) must not keep its place there: afterwards `locked` is false and `available` 1, and
// the next lock must get through (before the fix, tryLock failed and lock timed out forever).
import { Worker } from 'node:worker_threads';
import { Mutex, Semaphore } from 'skein';
import { describe, expect, it } from 'vitest';
import { queued, until } from '../fixtures/sync-run.js';

const OPS = new URL('../fixtures/sync-ops.mjs', import.meta.url);

/** Starts a worker that waits forever in `mode`, and terminates it once its ticket is taken. */
async function killWhileWaiting(
  gate: Mutex | Semaphore,
  data: Record<string, unknown>,
  mode: string,
): Promise<void> {
  const w = new Worker(OPS, { workerData: { op: 'waitForever', mode, ...data } });
  w.on('error', () => {});
  expect(await until(() => queued(gate) === 1, 10_000, 'the worker to take a ticket').then(() => true)).toBe(true);
  await w.terminate();
}

describe('a waiter killed in the ticket line is skipped', () => {
  for (const mode of ['lockSync', 'lock']) {
    it(`Mutex ${mode}: the next lock gets through, and tryLock works after it`, async () => {
      const m = new Mutex();
      const held = m.tryLock();
      expect(held).toBeTruthy();
      await killWhileWaiting(m, { mutex: m }, mode);
      held!.release();
      expect(m.locked).toBe(false);
      const t0 = Date.now();
      const g = await m.lock({ timeout: 10_000 });
      expect(Date.now() - t0).toBeLessThan(9000);
      g.release();
      const again = m.tryLock();
      expect(again).toBeTruthy();
      again!.release();
    });
  }

  it('Semaphore acquireSync: the next acquire gets the permit', async () => {
    const s = new Semaphore(1);
    const held = s.tryAcquire();
    expect(held).toBeTruthy();
    await killWhileWaiting(s, { sem: s }, 'acquireSync');
    held!.release();
    expect(s.available).toBe(1);
    const g = await s.acquire(1, { timeout: 10_000 });
    g.release();
    expect(s.tryAcquire()).toBeTruthy();
  });
});
