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

/**
 * Blocks this thread's event loop until `cond()` holds (looking every 10 ms), as blockLoop does, but
 * for as long as the worker takes to pass our head: a fixed block raced the worker's stall clock
 * (GATE_STALL_MS plus up to a poll), and on a loaded machine the loop came back first. Throws after
 * `capMs`: by then the waiters behind a stalled head never passed it (invariant 3 broken).
 */
function blockLoopUntil(cond: () => boolean, what: string, capMs = 5000): void {
  const end = Date.now() + capMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`loop blocked ${capMs} ms and still no ${what}`);
    blockLoop(10);
  }
}

function logOf(log: SharedArrayBuffer): number[] {
  const l = new Int32Array(log);
  return Array.from(l.subarray(1, 1 + Atomics.load(l, 0)));
}

/** Releases a permit as it comes, writing `id` to `log` in the order they came (read with logOf). */
function recorder(log: SharedArrayBuffer): (id: number) => (g: { release(): void }) => void {
  const l = new Int32Array(log);
  return (id) => (g) => {
    l[1 + Atomics.add(l, 0, 1)] = id;
    g.release();
  };
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
    // The worker passes our head (ticket 1) after ~1 s, takes its permit, records, releases.
    blockLoopUntil(() => logOf(log).length === 1 && sem.available === 1, 'pass of our head');
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

  // Gate invariant 5: a thread's async waiters are served in call order, even when the first was
  // passed over. Before the fix the first took a new ticket at the back of the line while the second
  // kept its place at the head and went first (order 2, 3, 1). Code that awaits its acquires in call
  // order then held the second's permit while the first waited behind everyone: two such threads on
  // a Semaphore(2) held both permits and waited for each other until their timeouts (the stress test
  // 'workers whose event loops stall past GATE_STALL_MS', test/stress/semaphore.test.ts).
  it('a thread with two async waiters, the first passed and the second now at the head: the first goes first, in the place the second held', async () => {
    const sem = new Semaphore(1);
    const held = sem.tryAcquire()!;
    const log = new SharedArrayBuffer(64);
    const record = recorder(log);
    const a = sem.acquire(1, { timeout: 8000 }).then(record(1)); // ticket 1
    const b = sem.acquire(1, { timeout: 8000 }).then(record(2)); // ticket 2
    const other = runOp('acquireLog', { sem, log, id: 3, timeout: 8000 }); // ticket 3
    await until(() => queued(sem) === 3, 10_000, 'the worker to line up');
    held.release();
    // The worker passes ticket 1 after ~1 s (3 in line, then 2); ticket 2 is then the head, and we
    // resume within 10 ms, well before it could stand still another second: this thread keeps that
    // place, and gives it to its first call.
    blockLoopUntil(() => queued(sem) === 2, 'pass of ticket 1');
    await Promise.all([a, b, other]);
    expect(logOf(log)).toEqual([1, 3, 2]);
    expect(sem.available).toBe(1);
    expect(queued(sem)).toBe(0);
  }, 20_000);

  it('two workers that await their acquires in call order, each stalled while its first was passed, do not hold a Semaphore(2) between them', async () => {
    const sem = new Semaphore(2);
    const held = sem.tryAcquire(2)!;
    const stats = new SharedArrayBuffer(16);
    // In line: worker A's two waiters, worker B's two, then ours. Each worker stalls its loop right
    // after lining up, A for 1.6 s and B for 3.2 s. Our waiter passes A's first after ~1 s, and A
    // comes back with its second at the head; then ours passes B's first, and B comes back with its
    // second at the head. Before the fix A and B each took a permit on their second ticket and
    // awaited their first, lined up again behind ours: both permits held, three waiters waiting,
    // until the timeouts (A's first timed out at 6 s).
    const stall = (stallMs: number) =>
      runOp<{ ok: number; timeouts: number }>('semStall', { sem, stats, rounds: 1, stallMs, timeout: 6000, phase: 0 });
    const a = stall(1600);
    await until(() => queued(sem) === 2, 10_000, 'worker A to line up');
    const b = stall(3200);
    await until(() => queued(sem) === 4, 10_000, 'worker B to line up');
    const mine = sem.acquire(1, { timeout: 7000 }).then(
      (g) => (g.release(), 'acquired'),
      (err: Error) => err.name,
    );
    held.release(); // both permits
    expect(await Promise.all([a, b, mine])).toEqual([
      { ok: 2, timeouts: 0 },
      { ok: 2, timeouts: 0 },
      'acquired',
    ]);
    expect(Atomics.load(new Int32Array(stats), 2)).toBe(0); // never more than 2 in use
    expect(sem.available).toBe(2);
    expect(queued(sem)).toBe(0);
  }, 20_000);

  it('a newcomer made after the loop comes back does not go before an earlier waiter that was passed', async () => {
    const sem = new Semaphore(1);
    const held = sem.tryAcquire()!;
    const log = new SharedArrayBuffer(64);
    const record = recorder(log);
    const a = sem.acquire(1, { timeout: 8000 }).then(record(1)); // ticket 1
    const other = runOp('acquireLog', { sem, log, id: 3, timeout: 8000 }); // ticket 2
    await until(() => queued(sem) === 2, 10_000, 'the worker to line up');
    held.release();
    // The worker passes ticket 1 after ~1 s, takes the permit and gives it back: the line is empty
    // and the permit free when this thread's loop comes back, before its sleeper has looked again.
    blockLoopUntil(() => logOf(log).length === 1 && sem.available === 1, 'pass of ticket 1');
    expect(logOf(log)).toEqual([3]);
    // Before the fix this call took the free permit at once, ahead of a (order 3, 2, 1).
    const b = sem.acquire(1, { timeout: 8000 }).then(record(2));
    await Promise.all([a, b, other]);
    expect(logOf(log)).toEqual([3, 1, 2]);
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
    blockLoop(1800); // past its own deadline when the loop comes back...
    blockLoopUntil(() => logOf(log).length === 1 && sem.available === 1, 'pass of our head'); // ...and passed
    expect(await other).toBe('ok');
    expect(await mine).toBeInstanceOf(TimeoutError);
    expect(sem.available).toBe(1);
    expect(queued(sem)).toBe(0);
    const g = await sem.acquire(1, { timeout: 1000 });
    g.release();
  }, 20_000);
});
