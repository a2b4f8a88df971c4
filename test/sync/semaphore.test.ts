import {
  AbortError,
  CorruptMemoryError,
  Guard,
  InvalidArgumentError,
  newSharedId,
  pendingAsyncWaitCount,
  Semaphore,
  SemaphoreReleaseError,
  SkeinError,
  TimeoutError,
} from 'skein/internal';
import { describe, expect, it } from 'vitest';
import { queued, runOp, sleep, until } from '../fixtures/sync-run.js';

/** The semaphore is back to rest: every permit free, nobody in line, and it still serves. */
async function expectAtRest(sem: Semaphore): Promise<void> {
  expect(sem.available).toBe(sem.permits);
  expect(queued(sem)).toBe(0);
  const g = await sem.acquire(sem.permits || 1, { timeout: 1000 });
  expect(sem.available).toBe(0);
  g.release();
  expect(sem.available).toBe(sem.permits);
  expect(pendingAsyncWaitCount()).toBe(0);
}

describe('Semaphore basics', () => {
  it('takes and gives permits', async () => {
    const sem = new Semaphore(3);
    expect(sem.permits).toBe(3);
    expect(sem.available).toBe(3);
    const a = sem.tryAcquire(2)!;
    expect(a).toBeInstanceOf(Guard);
    expect(a.held).toBe(true);
    expect(sem.available).toBe(1);
    expect(sem.tryAcquire(2)).toBeUndefined();
    const b = await sem.acquire();
    expect(sem.available).toBe(0);
    expect(sem.tryAcquire()).toBeUndefined();
    a.release();
    const c = sem.acquireSync(2, { timeout: 0 }); // blocking form works on main too, if it need not wait
    expect(sem.available).toBe(0);
    b.release();
    c.release();
    await expectAtRest(sem);
  });

  it('a guard releases once: release twice, and dispose after release, are no-ops', () => {
    const sem = new Semaphore(2);
    const g = sem.tryAcquire(2)!;
    g.release();
    expect(g.held).toBe(false);
    g.release();
    g[Symbol.dispose]();
    expect(sem.available).toBe(2);
  });

  it('`using` releases at the end of the block, also when the block throws', async () => {
    const sem = new Semaphore(3);
    {
      using g = await sem.acquire(2);
      expect(g.held).toBe(true);
      expect(sem.available).toBe(1);
      {
        using _h = sem.tryAcquire();
        expect(sem.available).toBe(0);
      }
      expect(sem.available).toBe(1);
    }
    expect(sem.available).toBe(3);
    const thrower = async () => {
      using _g = await sem.acquire(3);
      expect(sem.available).toBe(0);
      throw new Error('boom');
    };
    await expect(thrower()).rejects.toThrow('boom');
    expect(sem.available).toBe(3);
    {
      using g = await sem.acquire();
      g.release(); // released by hand, then again by `using`: no error, no extra permit
    }
    expect(sem.available).toBe(3);
  });

  it('withPermit returns what fn returns and releases however it ends', async () => {
    const sem = new Semaphore(1);
    expect(await sem.withPermit(() => sem.available)).toBe(0);
    await expect(sem.withPermit(async () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    expect(sem.available).toBe(1);
  });

  it('a Semaphore of 0 permits is allowed and never admits anyone', async () => {
    const sem = new Semaphore(0);
    expect(sem.available).toBe(0);
    await expect(sem.acquire(1)).rejects.toThrow(InvalidArgumentError);
    expect(() => sem.release()).toThrow(SemaphoreReleaseError);
  });
});

describe('Semaphore bad input: a named error, and no harm done', () => {
  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '2', 2 ** 31, undefined])(
    'new Semaphore(%s) is InvalidArgumentError',
    (permits) => {
      expect(() => new Semaphore(permits as number)).toThrow(InvalidArgumentError);
    },
  );

  it.each([0, -1, 1.5, Number.NaN, '1', 4])(
    'acquiring %s permits of 3 is InvalidArgumentError',
    async (n) => {
      const sem = new Semaphore(3);
      const g = sem.tryAcquire()!;
      await expect(sem.acquire(n as number)).rejects.toThrow(InvalidArgumentError);
      expect(() => sem.tryAcquire(n as number)).toThrow(InvalidArgumentError);
      expect(() => sem.acquireSync(n as number)).toThrow(InvalidArgumentError);
      await expect(sem.withPermit(() => 1, { timeout: -1 })).rejects.toThrow(InvalidArgumentError);
      expect(sem.available).toBe(2);
      g.release();
      await expectAtRest(sem);
    },
  );

  it.each([-1, Number.NaN, '10'])('timeout %s is InvalidArgumentError, sync and async', async (timeout) => {
    const sem = new Semaphore(1);
    const opts = { timeout } as never;
    await expect(sem.acquire(1, opts)).rejects.toThrow(InvalidArgumentError);
    expect(() => sem.acquireSync(1, opts)).toThrow(InvalidArgumentError);
    await expect(sem.acquire(1, { signal: 'x' } as never)).rejects.toThrow(InvalidArgumentError);
    await expectAtRest(sem);
  });

  it('releasing more than was acquired is SemaphoreReleaseError and changes nothing', async () => {
    const sem = new Semaphore(3);
    let err: unknown;
    try {
      sem.release();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SemaphoreReleaseError);
    expect(err).toBeInstanceOf(SkeinError);
    expect((err as Error).name).toBe('SemaphoreReleaseError');
    const g = sem.tryAcquire(2)!;
    expect(() => sem.release(3)).toThrow(SemaphoreReleaseError);
    expect(sem.available).toBe(1);
    sem.release(2); // by hand: the guard's own release now finds nothing to give back
    expect(() => g.release()).toThrow(SemaphoreReleaseError);
    await expectAtRest(sem);
  });

  it.each([0, -1, 1.5, Number.NaN])('release(%s) is InvalidArgumentError', (n) => {
    const sem = new Semaphore(2);
    sem.tryAcquire(2);
    expect(() => sem.release(n)).toThrow(InvalidArgumentError);
    expect(sem.available).toBe(0);
  });
});

describe('Semaphore waits on the main thread', () => {
  it('serves waiters in arrival order; a big request at the head is not overtaken', async () => {
    const sem = new Semaphore(4);
    sem.tryAcquire(4);
    const got: string[] = [];
    const take = (label: string, n: number) =>
      sem.acquire(n).then((g) => {
        got.push(label);
        return g;
      });
    const big = take('big', 4);
    const small1 = take('small1', 1);
    const small2 = take('small2', 1);
    expect(queued(sem)).toBe(3);
    expect(sem.tryAcquire(1)).toBeUndefined(); // someone is waiting: no barging
    sem.release(2);
    await sleep(30);
    expect(got).toEqual([]);
    sem.release(2);
    (await big).release();
    (await small1).release();
    (await small2).release();
    expect(got).toEqual(['big', 'small1', 'small2']);
    await expectAtRest(sem);
  });

  it('timed-out waiters leave no permit and no hole in the line', async () => {
    const sem = new Semaphore(3);
    sem.tryAcquire(3);
    const waits = Array.from({ length: 60 }, (_, i) => sem.acquire(1 + (i % 3), { timeout: 1 + (i % 17) }));
    const later = sem.acquire(3); // behind all of them, no timeout
    const results = await Promise.allSettled(waits);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(TimeoutError);
    }
    expect(queued(sem)).toBe(1);
    expect(sem.available).toBe(0);
    sem.release(3);
    (await later).release();
    await expectAtRest(sem);
  });

  it('a big request that times out at the head lets the smaller ones behind it through', async () => {
    const sem = new Semaphore(3);
    sem.tryAcquire(2);
    const big = sem.acquire(3, { timeout: 40 });
    const small = sem.acquire(1);
    let smallGot = false;
    void small.then(() => (smallGot = true));
    await sleep(15);
    expect(smallGot).toBe(false); // 1 is free, but the big one is ahead
    await expect(big).rejects.toThrow(TimeoutError);
    (await small).release(); // served when the head gave up, with no release in between
    sem.release(2);
    await expectAtRest(sem);
  });

  it('aborted waiters (before and while waiting) leave no permit and no hole', async () => {
    const sem = new Semaphore(2);
    sem.tryAcquire(2);
    await expect(sem.acquire(1, { signal: AbortSignal.abort('early') })).rejects.toThrow(AbortError);
    const acs = Array.from({ length: 20 }, () => new AbortController());
    const waits = acs.map((ac, i) =>
      sem.acquire(1 + (i % 2), { signal: ac.signal }).catch((e: unknown) => e),
    );
    const later = sem.acquire(2);
    for (const [i, ac] of acs.entries()) {
      if (i % 4 === 0) await sleep(1);
      ac.abort(new Error(`stop ${i}`));
    }
    for (const [i, w] of waits.entries()) {
      const err = await w;
      expect(err).toBeInstanceOf(AbortError);
      expect(((err as AbortError).cause as Error).message).toBe(`stop ${i}`);
    }
    sem.release(2);
    (await later).release();
    await expectAtRest(sem);
  });

  it('each waiter times out on its own deadline, also one that came after a waiter with a later one', async () => {
    const sem = new Semaphore(1);
    sem.tryAcquire();
    const t0 = performance.now();
    const slow = sem.acquire(1, { timeout: 3000 });
    const fast = sem.acquire(1, { timeout: 30 });
    const mid = sem.acquire(1, { timeout: 80 });
    await expect(fast).rejects.toThrow(TimeoutError);
    const tFast = performance.now() - t0;
    await expect(mid).rejects.toThrow(TimeoutError);
    const tMid = performance.now() - t0;
    expect(tFast).toBeGreaterThanOrEqual(29);
    expect(tFast).toBeLessThan(1000);
    expect(tMid).toBeGreaterThanOrEqual(79);
    expect(tMid).toBeLessThan(1500);
    sem.release();
    (await slow).release(); // still in line, served by the release
    await expectAtRest(sem);
  });

  it('acquire with timeout 0 is a try: it succeeds when free and fails at once when not', async () => {
    const sem = new Semaphore(2);
    const g = await sem.acquire(2, { timeout: 0 });
    await expect(sem.acquire(1, { timeout: 0 })).rejects.toThrow(TimeoutError);
    expect(() => sem.acquireSync(1, { timeout: 0 })).toThrow(TimeoutError);
    g.release();
    await expectAtRest(sem);
  });
});

describe('Semaphore across worker threads', () => {
  it('never admits more than its permits under weighted acquires from 4 workers and the main thread', async () => {
    const permits = 5;
    const sem = new Semaphore(permits);
    const stats = new SharedArrayBuffer(16);
    const st = new Int32Array(stats);
    const workers = [
      runOp('semLoad', { sem, stats, iters: 400, weights: [1, 2, 3], spins: 300, mode: 'sync' }),
      runOp('semLoad', { sem, stats, iters: 400, weights: [5, 1], spins: 300, mode: 'sync' }),
      runOp('semLoad', { sem, stats, iters: 400, weights: [2, 4], spins: 300, mode: 'async' }),
      runOp('semLoad', { sem, stats, iters: 400, weights: [3, 1, 1], spins: 300, mode: 'mixed' }),
    ];
    let mainDone = 0;
    const main = (async () => {
      for (let i = 0; i < 200; i++) {
        const w = 1 + (i % 4);
        const g = await sem.acquire(w);
        const inUse = Atomics.add(st, 0, w) + w;
        if (inUse > permits) Atomics.add(st, 2, 1);
        Atomics.sub(st, 0, w);
        Atomics.add(st, 3, 1);
        g.release();
        mainDone++;
      }
    })();
    await Promise.all([...workers, main]);
    expect(mainDone).toBe(200);
    expect(Atomics.load(st, 3)).toBe(1800);
    expect(Atomics.load(st, 2)).toBe(0); // never more in use than the permits
    expect(Atomics.load(st, 1)).toBeLessThanOrEqual(permits);
    expect(Atomics.load(st, 1)).toBeGreaterThanOrEqual(5); // a weight-5 acquire did happen
    await expectAtRest(sem);
  });

  it('is FIFO across threads: no later, smaller request overtakes a waiting larger one', async () => {
    const sem = new Semaphore(4);
    sem.tryAcquire(4);
    const order = new SharedArrayBuffer(4 * 8);
    const o = new Int32Array(order);
    // Labels 1..5 in arrival order; every two neighbours together need more than 4 permits, so
    // they are served one after another and the recorded order is the serving order.
    const plan: Array<[label: number, n: number]> = [
      [1, 4],
      [2, 1],
      [3, 4],
      [4, 2],
      [5, 3],
    ];
    const done: Promise<unknown>[] = [];
    let failed: unknown;
    for (const [label, n] of plan) {
      const w = runOp('semOrdered', { sem, order, n, holdMs: 15, label });
      w.catch((e: unknown) => (failed ??= e));
      done.push(w);
      await until(
        () => {
          if (failed) throw failed; // a worker that died never gets in line: say why
          return queued(sem) === label;
        },
        10_000,
        `waiter ${label} in line`,
      );
    }
    // The main thread queues last with 2: it would fit beside label 4's 2 permits, but 5 is ahead.
    done.push(
      sem.acquire(2).then(async (g) => {
        Atomics.store(o, 1 + Atomics.add(o, 0, 1), 6);
        g.release();
      }),
    );
    sem.release(1);
    await sleep(80);
    expect(Atomics.load(o, 0)).toBe(0); // 1 free, and label 2 wants 1, but label 1 is ahead
    sem.release(3);
    await Promise.all(done);
    expect(Array.from(o.subarray(1, 7))).toEqual([1, 2, 3, 4, 5, 6]);
    await expectAtRest(sem);
  });

  it('timed-out and aborted waits in workers (sync and async) and on main leave no permit, no hole', async () => {
    const sem = new Semaphore(3);
    sem.tryAcquire(3);
    const head = sem.acquire(2); // waits through it all, at the head of the line
    const mainTimeouts = (async () => {
      const names: string[] = [];
      for (let i = 0; i < 40; i++) {
        const ac = new AbortController();
        const t = setTimeout(() => ac.abort(), 1);
        const opts = i % 2 ? { timeout: 2 } : { signal: ac.signal };
        names.push(
          await sem.acquire(1, opts).then(
            () => 'acquired',
            (e: Error) => e.name,
          ),
        );
        clearTimeout(t);
      }
      return names;
    })();
    const [syncNames, bigNames, asyncNames, abortNames, mainNames] = await Promise.all([
      runOp<string[]>('semTimeouts', { sem, n: 1, count: 40, timeout: 3 }),
      runOp<string[]>('semTimeouts', { sem, n: 3, count: 40, timeout: 2 }),
      runOp<string[]>('semTimeoutsAsync', { sem, n: 2, count: 40, timeout: 3 }),
      runOp<string[]>('semTimeouts', { sem, n: 1, count: 5, abort: true }),
      mainTimeouts,
    ]);
    expect(new Set([...syncNames, ...bigNames, ...asyncNames])).toEqual(new Set(['TimeoutError']));
    expect(syncNames.length + bigNames.length + asyncNames.length).toBe(120);
    expect(abortNames).toEqual(Array(5).fill('AbortError'));
    expect(mainNames.filter((n) => n === 'TimeoutError').length).toBe(20);
    expect(mainNames.filter((n) => n === 'AbortError').length).toBe(20);
    // Given-up tickets behind the live head stay marked in line until the head moves past them.
    expect(queued(sem)).toBeGreaterThanOrEqual(1);
    expect(sem.available).toBe(0);
    sem.release(3);
    (await head).release();
    const [after] = await Promise.all([
      runOp<string[]>('semTimeouts', { sem, n: 3, count: 1, timeout: 1000 }),
    ]);
    expect(after).toEqual(['acquired']);
    await expectAtRest(sem);
  });
});

describe('Semaphore over damaged memory', () => {
  it('a line that serves a ticket far past the last issued fails acquire with CorruptMemoryError (it looped forever; fuzz seed 500127)', async () => {
    const real = new Semaphore(3);
    const sab = new SharedArrayBuffer(real.handle.sab.byteLength);
    new Uint8Array(sab).set(new Uint8Array(real.handle.sab));
    new Uint8Array(sab)[11] = 96; // the top byte of the word the line serves from
    const x = Semaphore.from({ handle: { kind: 'Semaphore', id: newSharedId(), sab, config: real.handle.config } });
    await expect(x.acquire(1, { timeout: 50 })).rejects.toBeInstanceOf(CorruptMemoryError);
  });
});
