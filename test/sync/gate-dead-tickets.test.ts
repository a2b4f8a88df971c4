// Gate (src/sync/ticket-gate/gate.ts): tickets given up (timeout, abort) behind a live head that
// cannot go on. Their ring slots are the only record of them, and the ring has RING (1024) slots.
// Before the fix every given-up ticket kept its slot until the head moved past it, so once RING
// tickets were out, with as few as one live waiter among them, a newcomer found no room and had no
// place in line: the waiters for room of all threads raced for the room freed later, and one that
// came later could be served first (FIFO broken: a large request could then time out while smaller
// ones that came after it were served). Now a given-up ticket's slot is taken over by a later ticket,
// and the slot of a live ticket is skipped ("burned"), so a newcomer always gets its place in line
// while fewer than RING waiters are live.
import { Worker } from 'node:worker_threads';
import { Semaphore, TimeoutError } from 'skein/internal';
import { describe, expect, it } from 'vitest';
import { queued, runOp, until } from '../fixtures/sync-run.js';

const RING = 1024;
/** gate.ts MAX_DEPTH: most laps burned over one live ticket. */
const MAX_DEPTH = 340;

function logOf(log: SharedArrayBuffer): number[] {
  const l = new Int32Array(log);
  return Array.from(l.subarray(1, 1 + Atomics.load(l, 0)));
}

/** `count` async acquires of one permit on this thread, each with a short timeout; all must time out. */
async function timeOutMany(sem: Semaphore, count: number): Promise<void> {
  const r = await Promise.allSettled(
    Array.from({ length: count }, (_, i) => sem.acquire(1, { timeout: 2 + (i % 7) })),
  );
  expect(r.every((x) => x.status === 'rejected' && x.reason instanceof TimeoutError)).toBe(true);
}

/** Appends `id` to `log` when `p` gives its guard, and releases it `holdMs` later. */
function logged(p: Promise<{ release(): void }>, log: SharedArrayBuffer, id: number, holdMs: number): Promise<void> {
  const l = new Int32Array(log);
  return p.then(async (g) => {
    l[1 + Atomics.add(l, 0, 1)] = id;
    await new Promise((r) => setTimeout(r, holdMs));
    g.release();
  });
}

async function expectAtRest(sem: Semaphore): Promise<void> {
  expect(sem.available).toBe(sem.permits);
  expect(queued(sem)).toBe(0);
  const g = sem.tryAcquire(sem.permits);
  expect(g).toBeTruthy();
  g!.release();
}

describe('tickets given up behind a live head that cannot go on', () => {
  it('more than the ring holds, from main and from workers: nothing hangs, the line recovers', async () => {
    const sem = new Semaphore(1);
    const held = sem.tryAcquire()!;
    const log = new SharedArrayBuffer(64);
    const head = logged(sem.acquire(), log, 1, 5); // no timeout: waits for the holder
    const workers = [
      runOp<string[]>('semTimeouts', { sem, n: 1, count: 300, timeout: 1 }),
      runOp<string[]>('semTimeoutsAsync', { sem, n: 1, count: 300, timeout: 1 }),
    ];
    for (let wave = 0; wave < 3; wave++) await timeOutMany(sem, 700);
    for (const names of await Promise.all(workers)) expect(new Set(names)).toEqual(new Set(['TimeoutError']));
    // A new waiter with a timeout, in a worker and then on main, takes its place behind the head at
    // once (before the fix the worker found no room: it had no place in line, and main's waiter,
    // which came later, was served first) and gets through.
    const q0 = queued(sem);
    const late = runOp<string>('acquireLog', { sem, log, id: 2, timeout: 10_000 });
    await until(() => queued(sem) > q0, 10_000, 'the worker to take its place in line');
    const mine = logged(sem.acquire(1, { timeout: 10_000 }), log, 3, 0);
    held.release();
    await Promise.all([head, mine, late]);
    expect(logOf(log)).toEqual([1, 2, 3]);
    await expectAtRest(sem);
  }, 30_000);

  it.each([
    ['', 0],
    [' (ticket numbers across the wrap at 2^31)', 0x7fffffff - 600],
  ])('a newcomer gets its place in line at once: no one who comes after it is served before it%s', async (_, start) => {
    const sem = new Semaphore(2);
    if (start) {
      const v = new Int32Array(sem.handle.sab); // documented layout: slot 1 NEXT, slot 2 SERVING
      v[1] = start;
      v[2] = start;
    }
    const held = sem.tryAcquire(2)!;
    const log = new SharedArrayBuffer(64);
    const head = logged(sem.acquire(2), log, 1, 30); // no timeout: waits for the holder
    await timeOutMany(sem, RING + 100); // more given-up tickets than the ring has slots
    // A (a worker) asks for 2 permits, then its event loop is busy for 300 ms; B (main) asks for 1
    // after A. Before the fix A found no room in the line and waited for some; the room came when
    // the head went, and main's sleeper, running at once, took it for B: B was served before A.
    const flag = new SharedArrayBuffer(4);
    const a = runOp<string>('acquireStalled', { sem, log, id: 2, n: 2, timeout: 10_000, stallMs: 300, holdMs: 10, flag });
    await until(() => Atomics.load(new Int32Array(flag), 0) === 1, 10_000, 'A to ask');
    const b = logged(sem.acquire(1, { timeout: 10_000 }), log, 3, 10);
    held.release();
    expect(await a).toBe('ok');
    await Promise.all([head, b]);
    expect(logOf(log)).toEqual([1, 2, 3]);
    await expectAtRest(sem);
  }, 30_000);

  it('two live waiters and given-up tickets over several laps of the ring: still in arrival order', async () => {
    const sem = new Semaphore(1);
    const held = sem.tryAcquire()!;
    const log = new SharedArrayBuffer(64);
    const first = logged(sem.acquire(), log, 1, 5); // live, no timeout
    const second = runOp<string>('acquireLog', { sem, log, id: 2, timeout: 30_000 }); // live, in a worker
    await until(() => queued(sem) >= 2, 10_000, 'the worker to line up');
    const workers = [
      runOp<string[]>('semTimeouts', { sem, n: 1, count: 400, timeout: 1 }),
      runOp<string[]>('semTimeoutsAsync', { sem, n: 1, count: 400, timeout: 1 }),
    ];
    for (let wave = 0; wave < 4; wave++) await timeOutMany(sem, 800);
    for (const names of await Promise.all(workers)) expect(new Set(names)).toEqual(new Set(['TimeoutError']));
    const flag = new SharedArrayBuffer(4);
    const a = runOp<string>('acquireStalled', { sem, log, id: 3, n: 1, timeout: 10_000, stallMs: 300, holdMs: 5, flag });
    await until(() => Atomics.load(new Int32Array(flag), 0) === 1, 10_000, 'A to ask');
    const b = logged(sem.acquire(1, { timeout: 10_000 }), log, 4, 5);
    held.release();
    expect(await a).toBe('ok');
    expect(await second).toBe('ok');
    await Promise.all([first, b]);
    expect(logOf(log)).toEqual([1, 2, 3, 4]);
    await expectAtRest(sem);
  }, 60_000);

  it('a live waiter with laps burned over it that dies is passed as dead, and the burned laps with it', async () => {
    const sem = new Semaphore(1);
    const held = sem.tryAcquire()!;
    const ops = new URL('../fixtures/sync-ops.mjs', import.meta.url);
    const w = new Worker(ops, { workerData: { op: 'waitForever', mode: 'acquireSync', sem } });
    w.on('error', () => {});
    await until(() => queued(sem) === 1, 10_000, 'the worker to take a ticket');
    for (let wave = 0; wave < 4; wave++) await timeOutMany(sem, 600); // its slot is burned twice over
    expect(queued(sem)).toBeGreaterThan(2 * RING);
    await w.terminate();
    held.release();
    const t0 = Date.now();
    const g = await sem.acquire(1, { timeout: 10_000 }); // after GATE_STALL_MS, past the dead head
    expect(Date.now() - t0).toBeLessThan(9000);
    g.release();
    await expectAtRest(sem);
  }, 30_000);

  it('a live waiter outlasting MAX_DEPTH laps of burns: newcomers wait for room, and get in when it goes', async () => {
    const sem = new Semaphore(1);
    const held = sem.tryAcquire()!;
    const log = new SharedArrayBuffer(64);
    const head = logged(sem.acquire(), log, 1, 0);
    // acquire({ timeout: 0 }) takes a ticket and gives it up at once: a lap of the ring per 1024.
    let noTicket = 0;
    for (let lap = 0; lap < MAX_DEPTH + 3; lap++) {
      const before = queued(sem);
      const r = await Promise.allSettled(Array.from({ length: RING }, () => sem.acquire(1, { timeout: 0 })));
      expect(r.every((x) => x.status === 'rejected' && x.reason instanceof TimeoutError)).toBe(true);
      if (queued(sem) === before) noTicket++;
    }
    expect(noTicket).toBeGreaterThan(0); // the line was full: the head's slot burned MAX_DEPTH times
    expect(queued(sem)).toBeLessThanOrEqual((MAX_DEPTH + 1) * RING);
    const late = runOp<string>('acquireLog', { sem, log, id: 2, timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 50));
    held.release();
    await head;
    expect(await late).toBe('ok');
    expect(logOf(log)).toEqual([1, 2]);
    await expectAtRest(sem);
  }, 60_000);
});
