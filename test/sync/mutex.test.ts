import {
  AbortError,
  InvalidArgumentError,
  Mutex,
  MutexUnlockError,
  pendingAsyncWaitCount,
  SkeinError,
  TimeoutError,
} from 'skein/internal';
import { describe, expect, it } from 'vitest';
import { queued, runOp, sleep, until } from '../fixtures/sync-run.js';

/** The mutex is free, nobody is in line, and it still locks. */
async function expectFree(m: Mutex): Promise<void> {
  expect(m.locked).toBe(false);
  expect(queued(m)).toBe(0);
  const g = await m.lock({ timeout: 1000 });
  expect(m.locked).toBe(true);
  g.release();
  expect(m.locked).toBe(false);
  expect(pendingAsyncWaitCount()).toBe(0);
}

describe('Mutex basics', () => {
  it('locks and unlocks; tryLock fails while held', async () => {
    const m = new Mutex();
    expect(m.locked).toBe(false);
    const g = await m.lock();
    expect(m.locked).toBe(true);
    expect(m.tryLock()).toBeUndefined();
    m.unlock();
    expect(g.held).toBe(true); // the guard does not know: unlock() is the low-level way
    const t = m.tryLock()!;
    expect(m.locked).toBe(true);
    t.release();
    t.release(); // no-op
    const s = m.lockSync({ timeout: 0 }); // free: the blocking form works on main without waiting
    s[Symbol.dispose]();
    await expectFree(m);
  });

  it('`using` unlocks at block end, also when the block throws', async () => {
    const m = new Mutex();
    {
      using _g = await m.lock();
      expect(m.locked).toBe(true);
    }
    expect(m.locked).toBe(false);
    const f = async () => {
      using _g = await m.lock();
      throw new Error('inside');
    };
    await expect(f()).rejects.toThrow('inside');
    await expectFree(m);
  });

  it('withLock and withLockSync return what fn returns and unlock however it ends', async () => {
    const m = new Mutex();
    expect(await m.withLock(async () => m.locked)).toBe(true);
    await expect(m.withLock(() => Promise.reject(new Error('no')))).rejects.toThrow('no');
    expect(m.withLockSync(() => 5)).toBe(5);
    expect(() =>
      m.withLockSync(() => {
        throw new Error('sync no');
      }),
    ).toThrow('sync no');
    await expectFree(m);
  });

  it('unlocking an unlocked mutex is MutexUnlockError and changes nothing', async () => {
    const m = new Mutex();
    let err: unknown;
    try {
      m.unlock();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MutexUnlockError);
    expect(err).toBeInstanceOf(SkeinError);
    expect((err as Error).name).toBe('MutexUnlockError');
    const g = m.tryLock()!;
    m.unlock();
    expect(() => m.unlock()).toThrow(MutexUnlockError);
    expect(() => g.release()).toThrow(MutexUnlockError); // its lock was already given back by hand
    expect(g.held).toBe(false);
    await expectFree(m);
  });

  it.each([-1, Number.NaN, 'soon'])('timeout %s is InvalidArgumentError, sync and async', async (timeout) => {
    const m = new Mutex();
    await expect(m.lock({ timeout } as never)).rejects.toThrow(InvalidArgumentError);
    expect(() => m.lockSync({ timeout } as never)).toThrow(InvalidArgumentError);
    await expect(m.withLock(() => 1, { timeout } as never)).rejects.toThrow(InvalidArgumentError);
    await expectFree(m);
  });

  it('a lock that times out or is aborted does not hold it, and the line goes on', async () => {
    const m = new Mutex();
    const g = await m.lock();
    const t0 = performance.now();
    await expect(m.lock({ timeout: 30 })).rejects.toThrow(TimeoutError);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(29);
    const ac = new AbortController();
    const aborted = m.lock({ signal: ac.signal });
    const next = m.lock();
    const timedOut = m.lock({ timeout: 5 });
    const last = m.lock();
    setTimeout(() => ac.abort('no'), 5);
    // Both handlers attach at once: either may reject first (an unattached rejection is an error).
    await Promise.all([expect(aborted).rejects.toThrow(AbortError), expect(timedOut).rejects.toThrow(TimeoutError)]);
    expect(() => m.lockSync({ timeout: 0 })).toThrow(TimeoutError);
    g.release();
    (await next).release();
    (await last).release();
    await expectFree(m);
  });
});

describe('Mutex across worker threads', () => {
  it('guards a non-atomic counter hammered by 5 workers (lockSync, lock, withLockSync) and main (lock)', async () => {
    const m = new Mutex();
    const counter = new SharedArrayBuffer(8);
    const stats = new SharedArrayBuffer(8);
    const f = new Float64Array(counter);
    const st = new Int32Array(stats);
    const iters = 1500;
    const workers = [
      ...Array.from({ length: 4 }, () =>
        runOp<number>('mutexCounter', { mutex: m, counter, stats, iters, spins: 200 }),
      ),
      runOp<number>('mutexCounterMixed', { mutex: m, counter, iters, spins: 200 }),
    ];
    let mainIters = 0;
    const main = (async () => {
      for (let i = 0; i < 400; i++) {
        const g = await m.lock();
        if (Atomics.add(st, 0, 1) !== 0) Atomics.add(st, 1, 1);
        const x = f[0];
        if (i % 10 === 0) await sleep(0); // hold the lock across a turn of the event loop
        f[0] = x + 1;
        Atomics.sub(st, 0, 1);
        g.release();
        mainIters++;
      }
    })();
    await Promise.all([...workers, main]);
    expect(mainIters).toBe(400);
    expect(f[0]).toBe(5 * iters + 400);
    expect(Atomics.load(st, 1)).toBe(0); // never two threads inside at once
    await expectFree(m);
  });

  it('control: with no common mutex the same counter loses updates (so the test above can fail)', async () => {
    const counter = new SharedArrayBuffer(8);
    const barrier = new SharedArrayBuffer(4);
    // Each worker locks its own Mutex: no mutual exclusion between them. They start together.
    await Promise.all(
      [new Mutex(), new Mutex()].map((mutex) =>
        runOp('mutexCounter', {
          mutex,
          counter,
          stats: new SharedArrayBuffer(8),
          iters: 100_000,
          spins: 50,
          barrier,
          parties: 2,
        }),
      ),
    );
    expect(new Float64Array(counter)[0]).toBeLessThan(200_000);
  });

  it('serves threads in arrival order', async () => {
    const m = new Mutex();
    m.tryLock();
    const order = new SharedArrayBuffer(4 * 8);
    const o = new Int32Array(order);
    const done: Promise<unknown>[] = [];
    let failed: unknown;
    for (let label = 1; label <= 4; label++) {
      const w = runOp('mutexOrdered', { mutex: m, order, label });
      w.catch((e: unknown) => (failed ??= e));
      done.push(w);
      await until(() => {
        if (failed) throw failed;
        return queued(m) === done.length;
      });
      if (label === 2) {
        // the main thread gets in line between workers 2 and 3
        done.push(m.withLock(() => Atomics.store(o, 1 + Atomics.add(o, 0, 1), 9)));
        expect(queued(m)).toBe(3);
      }
    }
    m.unlock();
    await Promise.all(done);
    expect(Array.from(o.subarray(1, 6))).toEqual([1, 2, 9, 3, 4]);
    await expectFree(m);
  });

  it('blocking locks that time out or are aborted in workers do not hold it', async () => {
    const m = new Mutex();
    m.tryLock();
    const waiting = m.lock(); // the main thread waits at the head throughout
    const names = await Promise.all([
      ...Array.from({ length: 3 }, () => runOp<string>('mutexTimeout', { mutex: m, timeout: 20 })),
      runOp<string>('mutexTimeout', { mutex: m, abort: true }),
    ]);
    expect(names).toEqual(['TimeoutError', 'TimeoutError', 'TimeoutError', 'AbortError']);
    expect(m.locked).toBe(true);
    m.unlock();
    (await waiting).release();
    expect(await runOp<string>('mutexTimeout', { mutex: m, timeout: 1000 })).toBe('locked');
    await expectFree(m);
  });
});
