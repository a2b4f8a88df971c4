// Gate (src/sync/ticket-gate/gate.ts, invariants 1 and 2): the head moves SERVING on to a ticket s,
// then looks at s's slot to see whether s waits or is to be passed. Between the two, s's owner may
// take s (its CAS on the slot), and a ticket one lap later (s + RING, handed out since s is no longer
// live) may give up and write over the slot. The head then saw a lap given up and written over, and
// passed s too: SERVING went back behind tickets already passed, or on past a waiter whose permits
// were not yet taken. Step points (memory/step-hook.ts) hold the threads at those places.
// Also: a worker terminated while it moved the line on (killed in its #advance, or between its
// claim and its advance) left no one to move it: the line was stuck for good.
import { Worker } from 'node:worker_threads';
import { Semaphore, Step, StepGate, TimeoutError } from 'skein/internal';
import { describe, expect, it } from 'vitest';
import { queued, runOp, sleep, until } from '../fixtures/sync-run.js';

const RING = 1024;
const FIXTURE = new URL('../fixtures/gate-step.mjs', import.meta.url);

interface Holder {
  worker: Worker;
  result: Promise<string>;
}

/** A worker that takes `n` permits (blocking), holds them until `go`, and releases them. */
function holder(sem: Semaphore, use: SharedArrayBuffer, go: SharedArrayBuffer, gate?: StepGate, n = 1): Holder {
  const worker = new Worker(FIXTURE, { workerData: { sem, gate: gate?.sab, n, timeout: 20_000, use, go } });
  const result = new Promise<string>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => resolve(`exit ${code}`));
  });
  return { worker, result };
}

/** `count` acquires that take a ticket and give it up at once (none can be served now). */
async function giveUpTickets(sem: Semaphore, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await expect(sem.acquire(1, { timeout: 0 })).rejects.toBeInstanceOf(TimeoutError);
}

function letGo(go: SharedArrayBuffer): void {
  Atomics.store(new Int32Array(go), 0, 1);
  Atomics.notify(new Int32Array(go), 0);
}

describe('the head looks at a ticket its owner took, its slot written over a lap later', () => {
  it('SERVING does not go back: the line is not stuck afterwards', async () => {
    const sem = new Semaphore(2);
    const g1 = sem.tryAcquire()!; // ticket 0
    const g2 = sem.tryAcquire()!; // ticket 1
    const use = new SharedArrayBuffer(12);
    const go = new SharedArrayBuffer(4);
    const gate = new StepGate();
    const h = holder(sem, use, go, gate); // ticket 2
    await until(() => queued(sem) === 1, 10_000, 'H to line up');
    const log = new SharedArrayBuffer(64);
    const a = runOp<string>('acquireLog', { sem, log, id: 1, timeout: 20_000 }); // ticket 3
    await until(() => queued(sem) === 2, 10_000, 'A to line up');
    await giveUpTickets(sem, RING - 2); // tickets 4 .. RING + 1
    expect(queued(sem)).toBe(RING);
    gate.arm(Step.GateAdvanced, h.worker.threadId);
    g1.release(); // H takes ticket 2 and moves the line on to 3 (A's); it stops before looking at it
    gate.awaitPause(10_000);
    g2.release(); // A takes ticket 3, passes the given-up tickets, and gives its permit back
    expect(await a).toBe('ok');
    expect(queued(sem)).toBe(0);
    const n1 = sem.tryAcquire(); // ticket RING + 2
    expect(n1).toBeTruthy();
    // Ticket RING + 3, at the head with no permit free: given up, taken and passed by its owner,
    // in the slot it shares with ticket 3.
    await expect(sem.acquire(1, { timeout: 0 })).rejects.toBeInstanceOf(TimeoutError);
    expect(queued(sem)).toBe(0);
    gate.release(); // H now looks at ticket 3's slot
    letGo(go);
    expect(await h.result).toBe('ok');
    n1!.release();
    // Before the fix H passed ticket 3 again: SERVING back at RING + 2, behind the tickets passed
    // since, and no one left to move it on: every acquire timed out with both permits free.
    expect(queued(sem)).toBe(0);
    const g = await sem.acquire(2, { timeout: 3000 });
    g.release();
    expect(sem.tryAcquire(2)).toBeTruthy();
  }, 30_000);

  it('never more permits out than the semaphore has: a waiter behind is not let in early', async () => {
    const sem = new Semaphore(2);
    const g1 = sem.tryAcquire()!; // ticket 0
    const g2 = sem.tryAcquire()!; // ticket 1
    const use = new SharedArrayBuffer(12);
    const u = new Int32Array(use);
    const go = new SharedArrayBuffer(4);
    const gateH = new StepGate();
    const gateA = new StepGate();
    const h = holder(sem, use, go, gateH); // ticket 2
    await until(() => queued(sem) === 1, 10_000, 'H to line up');
    const a = holder(sem, use, go, gateA); // ticket 3
    await until(() => queued(sem) === 2, 10_000, 'A to line up');
    const b = holder(sem, use, go); // ticket 4
    await until(() => queued(sem) === 3, 10_000, 'B to line up');
    await giveUpTickets(sem, RING - 3); // tickets 5 .. RING + 1
    gateH.arm(Step.GateAdvanced, h.worker.threadId);
    g1.release(); // H takes ticket 2 (one permit), moves the line on to 3 and stops there
    gateH.awaitPause(10_000);
    gateA.arm(Step.GateClaimed, a.worker.threadId);
    g2.release(); // A claims ticket 3 and stops before it moves the line on
    gateA.awaitPause(10_000);
    // Tickets RING + 2 and RING + 3 given up at once; RING + 3 shares its slot with A's ticket 3.
    await giveUpTickets(sem, 2);
    gateH.release(); // H looks at ticket 3's slot
    // H and A hold both permits: B must wait. Before the fix H passed ticket 3 before A had taken
    // its permit, and B, now at the head, found it free: three holders of a Semaphore(2).
    await until(() => Atomics.load(u, 2) >= 2, 500, 'B').catch(() => {});
    gateA.release();
    await until(() => Atomics.load(u, 2) >= 3, 500, 'A and B').catch(() => {});
    expect(Atomics.load(u, 1)).toBe(2);
    letGo(go);
    expect(await Promise.all([h.result, a.result, b.result])).toEqual(['ok', 'ok', 'ok']);
    expect(Atomics.load(u, 1)).toBe(2);
    expect(sem.available).toBe(2);
    expect(queued(sem)).toBe(0);
    const g = await sem.acquire(2, { timeout: 3000 });
    g.release();
  }, 30_000);
});

describe('a worker terminated while it moves the line on', () => {
  it.each([
    ['in its walk past given-up tickets', Step.GateAdvanced],
    ['between its claim and its walk', Step.GateClaimed],
  ])('%s: after GATE_STALL_MS the waiters behind move the line on', async (_, point) => {
    const sem = new Semaphore(3);
    const held = sem.tryAcquire(3)!; // ticket 0
    const use = new SharedArrayBuffer(12);
    const go = new SharedArrayBuffer(4);
    const gate = new StepGate();
    const h = holder(sem, use, go, gate); // ticket 1
    await until(() => queued(sem) === 1, 10_000, 'H to line up');
    await giveUpTickets(sem, 300); // tickets 2 .. 301
    gate.arm(point, h.worker.threadId);
    held.release();
    gate.awaitPause(10_000);
    await h.worker.terminate(); // H dies holding its permit (taken before it stopped)
    // Before the fix the line stayed at H's ticket (or at the given-up ticket 2) for good: no one
    // else moves SERVING past a ticket that is not waiting, and this timed out with 2 permits free.
    const t0 = Date.now();
    const g = await sem.acquire(2, { timeout: 5000 });
    expect(Date.now() - t0).toBeLessThan(4500);
    g.release();
    expect(queued(sem)).toBe(0);
    expect(sem.available).toBe(2); // H's permit went with H
    await sleep(0);
  }, 30_000);
});
