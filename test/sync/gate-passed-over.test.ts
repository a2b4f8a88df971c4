// Gate invariant 3 (src/sync/ticket-gate/gate.ts): a head that stands still for GATE_STALL_MS while
// its permits are free is passed by the waiters behind it. Its owner, if alive (a thread whose event
// loop was busy that long), "loses its place, never a permit" and lines up again. Before the fix the
// owner never noticed it was passed: it only looked for SERVING === its ticket, which SERVING had
// already gone past, so it waited forever (or until its timeout) with the permits free.
import { Semaphore, TimeoutError } from 'skein/internal';
import { describe, expect, it } from 'vitest';
import { queued, runOp, until } from '../fixtures/sync-run.js';

/** Blocks this (main) thread's event loop for `ms`, as a long synchronous computation would. */
function blockLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function logOf(log: SharedArrayBuffer): number[] {
  const l = new Int32Array(log);
  return Array.from(l.subarray(1, 1 + Atomics.load(l, 0)));
}

describe('a waiter passed over while its thread was busy lines up again', () => {
  it('an async acquire whose loop stalled past GATE_STALL_MS still gets the permit', async () => {
    const sem = new Semaphore(1);
    const held = sem.tryAcquire()!;
    const mine = sem.acquire(1, { timeout: 8000 }); // ticket 1, waits
    const log = new SharedArrayBuffer(64);
    const other = runOp('acquireLog', { sem, log, id: 2, timeout: 8000 }); // ticket 2, behind it
    await until(() => queued(sem) === 2, 10_000, 'the worker to line up');
    held.release();
    blockLoop(1800); // the worker passes our head (ticket 1) after ~1 s, takes its permit, releases
    expect(await other).toBe('ok');
    const t0 = Date.now();
    let g;
    try {
      g = await mine;
    } catch (err) {
      // before the fix: TimeoutError after 8 s, with the permit free all along
      expect.fail(`the passed-over waiter never got the free permit: ${(err as Error).name} after ${Date.now() - t0} ms`);
    }
    expect(Date.now() - t0).toBeLessThan(1000);
    g.release();
    expect(sem.available).toBe(1);
    expect(queued(sem)).toBe(0);
  }, 20_000);

  it('a thread with two async waiters, the first passed and the second now at the head: the second goes first', async () => {
    const sem = new Semaphore(1);
    const held = sem.tryAcquire()!;
    const log = new SharedArrayBuffer(64);
    const l = new Int32Array(log);
    const record = (id: number) => (g: { release(): void }) => {
      l[1 + Atomics.add(l, 0, 1)] = id;
      g.release();
    };
    const a = sem.acquire(1, { timeout: 8000 }).then(record(1)); // ticket 1
    const b = sem.acquire(1, { timeout: 8000 }).then(record(2)); // ticket 2
    const other = runOp('acquireLog', { sem, log, id: 3, timeout: 8000 }); // ticket 3
    await until(() => queued(sem) === 3, 10_000, 'the worker to line up');
    held.release();
    // The worker passes ticket 1 after ~1 s; ticket 2 (b) is then the head, and we resume well
    // before it could stand still another second: b is first in line and must be served at once.
    blockLoop(1500);
    await Promise.all([a, b, other]);
    expect(logOf(log)).toEqual([2, 3, 1]);
    expect(sem.available).toBe(1);
    expect(queued(sem)).toBe(0);
  }, 20_000);

  it('a passed-over waiter that times out gives nothing back it does not hold', async () => {
    const sem = new Semaphore(1);
    const held = sem.tryAcquire()!;
    const mine = sem.acquire(1, { timeout: 1200 }).then(
      () => 'acquired',
      (err: unknown) => err,
    );
    const log = new SharedArrayBuffer(64);
    const other = runOp('acquireLog', { sem, log, id: 2, timeout: 8000 });
    await until(() => queued(sem) === 2, 10_000, 'the worker to line up');
    held.release();
    blockLoop(1800); // passed, and past its own deadline when the loop comes back
    expect(await other).toBe('ok');
    expect(await mine).toBeInstanceOf(TimeoutError);
    expect(sem.available).toBe(1);
    expect(queued(sem)).toBe(0);
    const g = await sem.acquire(1, { timeout: 1000 });
    g.release();
  }, 20_000);
});
