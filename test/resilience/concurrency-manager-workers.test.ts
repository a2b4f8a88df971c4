import { Worker } from 'node:worker_threads';
import { ConcurrencyManager, now, Step, StepGate } from 'skein/internal';
import { describe, expect, it } from 'vitest';

const CM = new URL('../fixtures/cm-worker.mjs', import.meta.url);

function exited(w: Worker): Promise<number> {
  return new Promise((resolve, reject) => {
    w.once('error', reject);
    w.once('exit', resolve);
  });
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = now() + ms;
  while (!cond()) {
    if (now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('ConcurrencyManager across worker threads', () => {
  it('never lets more than maxConcurrency in, with workers and main hammering it', async () => {
    const m = new ConcurrencyManager({ maxConcurrency: 2, queueLimit: 64 });
    const cur = new Int32Array(new SharedArrayBuffer(12));
    const ms = 400;
    const workers = Array.from(
      { length: 3 },
      () => new Worker(CM, { workerData: { mode: 'hammer', manager: m, cur, ms } }),
    );
    const codes = workers.map(exited);
    // The main thread hammers too, with the same protocol.
    const end = now() + ms;
    while (now() < end) {
      await m.run(
        async () => {
          const c = Atomics.add(cur, 0, 1) + 1;
          for (let seen = Atomics.load(cur, 1); c > seen; ) {
            const prev = Atomics.compareExchange(cur, 1, seen, c);
            if (prev === seen) break;
            seen = prev;
          }
          await new Promise((r) => setTimeout(r, 1));
          Atomics.sub(cur, 0, 1);
        },
        { priority: 1 + Math.floor(Math.random() * 10) },
      );
      Atomics.add(cur, 2, 1);
    }
    expect(await Promise.all(codes)).toEqual([0, 0, 0]);
    expect(Atomics.load(cur, 1)).toBeLessThanOrEqual(2);
    expect(Atomics.load(cur, 1)).toBe(2); // it was really contended
    const mt = m.metrics();
    expect(mt.inUse).toBe(0);
    expect(mt.queued).toBe(0);
    expect(mt.acquired).toBe(Atomics.load(cur, 2));
    expect(mt.released).toBe(mt.acquired);
    expect(mt.wait.count).toBe(mt.acquired);
    expect(mt.wait.max).toBeGreaterThan(0); // and some acquires had to wait
  });

  it('gives a crashed worker’s permit back once its lease expires', async () => {
    const m = new ConcurrencyManager({ maxConcurrency: 1 });
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const expired: unknown[] = [];
    m.on('leaseExpired', (e) => expired.push(e));
    const w = new Worker(CM, { workerData: { mode: 'crash', manager: m, lease: 300, flag } });
    const code = exited(w);
    await waitFor(() => Atomics.load(flag, 0) === 1);
    const t0 = now();
    expect(await code).toBe(1);
    expect(m.inUse).toBe(1); // the dead worker still holds it...
    const permit = await m.acquire({ timeout: 5000 }); // ...until the lease runs out: this waiter reclaims it
    const waited = now() - t0;
    expect(waited).toBeLessThan(2000);
    expect(expired).toEqual([expect.objectContaining({ permit: 0, priority: 5 })]);
    expect(m.metrics().leasesExpired).toBe(1);
    permit.release();
    expect(m.inUse).toBe(0);
  });

  it('skips a waiter whose thread was terminated: its uncollected grant goes to the next acquirer (no lease, no timeout)', async () => {
    const m = new ConcurrencyManager({ maxConcurrency: 1 });
    const held = await m.acquire();
    const queued = new Int32Array(new SharedArrayBuffer(4));
    const w = new Worker(CM, { workerData: { mode: 'waitForever', manager: m, queued } });
    await waitFor(() => Atomics.load(queued, 0) === 1);
    await waitFor(() => m.queued === 1);
    await w.terminate(); // dies while it waits in line
    held.release(); // hands the permit to the dead waiter
    expect(Atomics.load(queued, 0)).toBe(1);
    const permit = await m.acquire({ timeout: 5000 }); // before the fix: TimeoutError, inUse stuck at 1
    expect(m.inUse).toBe(1);
    permit.release();
    expect(m.inUse).toBe(0);
    expect(m.queued).toBe(0);
  });

  it('a grant that races a timeout ends the waiter one way, counted once (timed out; the permit handed on)', async () => {
    // The interleaving, held in place by two step gates: a releaser reads the clock and is then
    // held off the lock; only then does the waiter queue, so its deadline is later than the
    // releaser's clock whatever the machine's load; the waiter times out and is held before it
    // withdraws; the release lands (granting the waiter), and only then does the waiter withdraw.
    // The waiter rejects with TimeoutError, and was counted both acquired and timed out (acquired
    // 2, released 2).
    const m = new ConcurrencyManager({ maxConcurrency: 1 });
    const gateR = new StepGate();
    const gateW = new StepGate();
    gateR.arm(Step.ManagerReleaseTimed);
    gateW.arm(Step.ManagerWaiterGivesUp);
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const result = new Int32Array(new SharedArrayBuffer(4));
    const releaser = new Worker(CM, { workerData: { mode: 'releaseOnCue', manager: m, gate: gateR.sab, flag } });
    const releaserExit = exited(releaser);
    let waiter: Worker | undefined;
    try {
      await waitFor(() => Atomics.load(flag, 0) === 1);
      Atomics.store(flag, 0, 2);
      Atomics.notify(flag, 0);
      gateR.awaitPause(); // its clock read, the permit still held
      waiter = new Worker(CM, { workerData: { mode: 'timeoutWaiter', manager: m, gate: gateW.sab, timeout: 300, result } });
      const waiterExit = exited(waiter);
      await waitFor(() => m.queued === 1);
      gateW.awaitPause(); // the waiter's 300 ms ran out: it gave up
      gateR.release();
      await waitFor(() => Atomics.load(flag, 0) === 3);
      // The release granted the permit to the waiter (freed, it would read 0 in use).
      expect([m.inUse, m.queued]).toEqual([1, 0]);
      gateW.release();
      expect(await Promise.all([releaserExit, waiterExit])).toEqual([0, 0]);
    } finally {
      await Promise.all([releaser.terminate(), waiter?.terminate()]);
    }
    expect(Atomics.load(result, 0)).toBe(2); // TimeoutError
    const mt = m.metrics();
    expect({ acquired: mt.acquired, released: mt.released, timedOut: mt.timedOut, aborted: mt.aborted }).toEqual({
      acquired: 1, // the releaser's
      released: 1,
      timedOut: 1, // the waiter's
      aborted: 0,
    });
    expect([mt.inUse, mt.queued, mt.wait.count]).toEqual([0, 0, 1]);
    expect(m.tryAcquire()).toBeDefined(); // the permit the waiter gave up went back
  });

  it('serves waiters from several threads by priority', async () => {
    const m = new ConcurrencyManager({ maxConcurrency: 1 });
    const held = await m.acquire();
    const queued = new Int32Array(new SharedArrayBuffer(4));
    const order = new Int32Array(new SharedArrayBuffer(4 * 8));
    const priorities = [2, 9, 5, 7, 1];
    const workers: Worker[] = [];
    const codes: Promise<number>[] = [];
    // Start them one by one so that equal arrival order is not what decides.
    for (const priority of priorities) {
      workers.push(new Worker(CM, { workerData: { mode: 'prio', manager: m, priority, queued, order } }));
      codes.push(exited(workers[workers.length - 1]));
      await waitFor(() => Atomics.load(queued, 0) === workers.length);
    }
    expect(m.queued).toBe(priorities.length);
    held.release();
    expect(await Promise.all(codes)).toEqual([0, 0, 0, 0, 0]);
    expect(Array.from(order.subarray(1, 1 + priorities.length))).toEqual([9, 7, 5, 2, 1]);
    expect(m.inUse).toBe(0);
  });
});
