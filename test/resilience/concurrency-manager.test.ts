import {
  AbortError,
  ConcurrencyManager,
  ConcurrencyPermit,
  ConcurrencyQueueFullError,
  InvalidArgumentError,
  newView,
  TimeoutError,
} from 'skein/internal';
import { afterEach, describe, expect, it, vi } from 'vitest';

/** Lets grants land: a grant wakes its waiter through Atomics.waitAsync, which resolves in a later task. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

/** Tracks which of several acquires have resolved, in order. */
function track(ps: Array<Promise<ConcurrencyPermit>>, labels: string[]) {
  const order: string[] = [];
  const permits = new Map<string, ConcurrencyPermit>();
  for (const [i, p] of ps.entries()) {
    p.then(
      (g) => {
        order.push(labels[i]);
        permits.set(labels[i], g);
      },
      () => {},
    );
  }
  return { order, permits };
}

describe('ConcurrencyManager options', () => {
  it.each([
    ['maxConcurrency 0', { maxConcurrency: 0 }],
    ['negative maxConcurrency', { maxConcurrency: -1 }],
    ['fractional maxConcurrency', { maxConcurrency: 1.5 }],
    ['missing maxConcurrency', {}],
    ['negative queueLimit', { maxConcurrency: 1, queueLimit: -1 }],
    ['queueLimit past the table', { maxConcurrency: 1, queueLimit: 1e6 }],
    ['negative acquireTimeout', { maxConcurrency: 1, acquireTimeout: -5 }],
    ['NaN acquireTimeout', { maxConcurrency: 1, acquireTimeout: Number.NaN }],
    ['lease 0', { maxConcurrency: 1, lease: 0 }],
    ['agingInterval 0', { maxConcurrency: 1, agingInterval: 0 }],
    ['non-boolean fair', { maxConcurrency: 1, fair: 'yes' }],
  ])('rejects %s with InvalidArgumentError', (_, opts) => {
    expect(() => new ConcurrencyManager(opts as never)).toThrow(InvalidArgumentError);
  });

  it.each([[0], [11], [1.5], [-3], ['5'], [Number.NaN]])(
    'rejects priority %s at the call site',
    async (p) => {
      const m = new ConcurrencyManager({ maxConcurrency: 1 });
      const priority = p as number;
      await expect(m.acquire({ priority })).rejects.toThrow(InvalidArgumentError);
      expect(() => m.tryAcquire({ priority })).toThrow(InvalidArgumentError);
      await expect(m.run(() => 1, { priority })).rejects.toThrow(InvalidArgumentError);
      expect(m.inUse).toBe(0);
    },
  );

  it('rejects a bad lease or timeout per acquire', async () => {
    const m = new ConcurrencyManager({ maxConcurrency: 1 });
    await expect(m.acquire({ lease: -1 })).rejects.toThrow(InvalidArgumentError);
    await expect(m.acquire({ timeout: -1 })).rejects.toThrow(InvalidArgumentError);
    const g = m.tryAcquire();
    expect(() => g?.renew(0)).toThrow(InvalidArgumentError);
  });
});

describe('ConcurrencyManager permits', () => {
  it('hands out maxConcurrency permits, then queues; release twice is a no-op', async () => {
    const m = new ConcurrencyManager({ maxConcurrency: 2 });
    const a = await m.acquire();
    const b = await m.acquire();
    expect(a).toBeInstanceOf(ConcurrencyPermit);
    expect(m.tryAcquire()).toBeUndefined();
    const c = m.acquire();
    expect(m.queued).toBe(1);
    a.release();
    a.release();
    const gc = await c;
    expect(m.inUse).toBe(2);
    expect(a.held).toBe(false);
    expect(gc.held).toBe(true);
    b.release();
    gc.release();
    expect(m.inUse).toBe(0);
    expect(m.metrics()).toMatchObject({ acquired: 3, released: 3, inUse: 0, queued: 0 });
  });

  it('`using` releases at the end of the block', async () => {
    const m = new ConcurrencyManager({ maxConcurrency: 1 });
    {
      using _p = await m.acquire();
      expect(m.inUse).toBe(1);
    }
    expect(m.inUse).toBe(0);
  });

  it('run() releases however fn ends and passes the permit', async () => {
    const m = new ConcurrencyManager({ maxConcurrency: 1 });
    expect(await m.run((p) => p.priority, { priority: 7 })).toBe(7);
    await expect(
      m.run(async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(m.inUse).toBe(0);
  });

  it('serves higher priorities first, FIFO within a priority', async () => {
    const m = new ConcurrencyManager({ maxConcurrency: 1 });
    const held = await m.acquire();
    const prios = [1, 5, 10, 5, 1, 10];
    const labels = prios.map((p, i) => `${p}#${i}`);
    const { order, permits } = track(
      prios.map((priority) => m.acquire({ priority })),
      labels,
    );
    held.release();
    for (let k = 0; k < prios.length; k++) {
      await settle();
      expect(order.length).toBe(k + 1);
      permits.get(order[k])?.release();
    }
    expect(order).toEqual(['10#2', '10#5', '5#1', '5#3', '1#0', '1#4']);
  });

  it('a new acquire does not barge past waiters', async () => {
    const m = new ConcurrencyManager({ maxConcurrency: 1 });
    const held = await m.acquire();
    const waiting = m.acquire({ priority: 1 });
    held.release(); // handed to the waiter at once, before it even wakes
    expect(m.tryAcquire({ priority: 10 })).toBeUndefined();
    (await waiting).release();
    expect(m.tryAcquire()).toBeDefined();
  });

  it('queueLimit refuses at once with ConcurrencyQueueFullError; 0 means no waiting at all', async () => {
    const m = new ConcurrencyManager({ maxConcurrency: 1, queueLimit: 2 });
    const rejects: string[] = [];
    m.on('reject', (e) => rejects.push(e.reason));
    const held = await m.acquire();
    const w1 = m.acquire();
    const w2 = m.acquire();
    await expect(m.acquire()).rejects.toThrow(ConcurrencyQueueFullError);
    expect(m.metrics()).toMatchObject({ rejected: 1, queued: 2 });
    held.release();
    (await w1).release();
    (await w2).release();
    const none = new ConcurrencyManager({ maxConcurrency: 1, queueLimit: 0 });
    const g = await none.acquire();
    await expect(none.acquire()).rejects.toThrow(ConcurrencyQueueFullError);
    g.release();
    expect(rejects).toEqual(['queueFull']);
  });

  it('acquireTimeout rejects with TimeoutError and takes nothing', async () => {
    const m = new ConcurrencyManager({ maxConcurrency: 1, acquireTimeout: 30 });
    const held = await m.acquire();
    const t = m.acquire({ priority: 9 });
    const later = m.acquire({ priority: 1, timeout: 5000 });
    await expect(t).rejects.toThrow(TimeoutError);
    expect(m.queued).toBe(1);
    held.release();
    const g = await later; // the timed-out waiter left no hole and kept no permit
    expect(m.inUse).toBe(1);
    g.release();
    await expect(m.acquire({ timeout: 0 })).resolves.toBeDefined();
    await expect(m.acquire({ timeout: 0 })).rejects.toThrow(TimeoutError);
    expect(m.metrics().timedOut).toBe(2);
  });

  it('run() refuses a non-function at once, before waiting for or taking a permit', async () => {
    const m = new ConcurrencyManager({ maxConcurrency: 1 });
    const held = await m.acquire();
    // It waited for a permit first (here until its timeout, TimeoutError), and only then threw a
    // TypeError from the call; with a free permit it took one and gave it back.
    for (const fn of [undefined, 42, 'f']) {
      await expect(m.run(fn as never, { timeout: 200 })).rejects.toThrow(InvalidArgumentError);
    }
    expect(m.metrics()).toMatchObject({ queued: 0, timedOut: 0, acquired: 1 });
    held.release();
    await expect(m.run(null as never)).rejects.toThrow(/ConcurrencyManager.run: fn/);
    expect(m.metrics()).toMatchObject({ inUse: 0, acquired: 1 });
  });

  it('an aborted acquire rejects with AbortError and takes nothing', async () => {
    const m = new ConcurrencyManager({ maxConcurrency: 1 });
    const held = await m.acquire();
    const ac = new AbortController();
    const p = m.acquire({ signal: ac.signal });
    ac.abort(new Error('user left'));
    await expect(p).rejects.toThrow(AbortError);
    await expect(p).rejects.toMatchObject({ cause: { message: 'user left' } });
    await expect(m.acquire({ signal: AbortSignal.abort() })).rejects.toThrow(AbortError);
    expect(m.queued).toBe(0);
    held.release();
    expect(m.inUse).toBe(0);
    expect(m.metrics().aborted).toBe(1);
  });

  it('an abort that races a grant ends the waiter one way, counted once (aborted; the permit handed on)', async () => {
    // The grant and the abort in one turn: the waiter sees its signal first and gives up, with the
    // permit already in its slot. It was counted as acquired and as aborted (acquired 2, released 2).
    const m = new ConcurrencyManager({ maxConcurrency: 1 });
    const held = await m.acquire();
    const ac = new AbortController();
    const p = m.acquire({ signal: ac.signal });
    await settle();
    held.release(); // granted to the waiter...
    ac.abort(); // ...which is aborted before it collects it
    await expect(p).rejects.toThrow(AbortError);
    const mt = m.metrics();
    expect({ acquired: mt.acquired, released: mt.released, aborted: mt.aborted, timedOut: mt.timedOut }).toEqual({
      acquired: 1,
      released: 1,
      aborted: 1,
      timedOut: 0,
    });
    expect([mt.inUse, mt.queued, mt.wait.count]).toEqual([0, 0, 1]);
  });

  it('emits acquire and release events in this thread', async () => {
    const m = new ConcurrencyManager({ maxConcurrency: 1 });
    const seen: string[] = [];
    const onAcquire = (e: { priority: number }) => seen.push(`acquire ${e.priority}`);
    m.on('acquire', onAcquire).on('release', (e) => seen.push(`release ${e.priority}`));
    (await m.acquire({ priority: 3 })).release();
    m.off('acquire', onAcquire);
    (await m.acquire({ priority: 4 })).release();
    expect(seen).toEqual(['acquire 3', 'release 3', 'release 4']);
  });

  it('reports wait times', async () => {
    const m = new ConcurrencyManager({ maxConcurrency: 1 });
    const held = await m.acquire();
    const w = m.acquire();
    await new Promise((r) => setTimeout(r, 40));
    held.release();
    const g = await w;
    expect(g.waitedMs).toBeGreaterThanOrEqual(35);
    g.release();
    const { wait } = m.metrics();
    expect(wait.count).toBe(2);
    expect(wait.max).toBeGreaterThanOrEqual(35);
    expect(wait.mean).toBeCloseTo(wait.max / 2, 6);
    expect(wait.p99).toBeGreaterThan(25);
    expect(wait.p50).toBeLessThanOrEqual(wait.p99);
  });
});

describe('ConcurrencyManager leases', () => {
  it('a waiter reclaims an expired lease by itself (real time)', async () => {
    const m = new ConcurrencyManager({ maxConcurrency: 1, lease: 50 });
    const expired: number[] = [];
    m.on('leaseExpired', (e) => expired.push(e.heldMs));
    const forgotten = await m.acquire(); // never released
    const g = await m.acquire({ timeout: 2000, lease: 10_000 });
    expect(expired).toHaveLength(1);
    expect(expired[0]).toBeGreaterThanOrEqual(49);
    expect(forgotten.held).toBe(false);
    forgotten.release(); // late: a no-op, it must not free the permit now held by `g`
    expect(m.inUse).toBe(1);
    expect(g.held).toBe(true);
    g.release();
    expect(m.metrics()).toMatchObject({ leasesExpired: 1, inUse: 0 });
  });
});

describe('ConcurrencyManager leases granted while others wait', () => {
  it('a waiter re-plans its sleep when a lease is handed to someone ahead of it', async () => {
    const m = new ConcurrencyManager({ maxConcurrency: 1 });
    const first = await m.acquire(); // no lease
    const ahead = m.acquire({ priority: 10, lease: 50 }); // will get a lease, then forget it
    const t0 = Date.now();
    const behind = m.acquire({ priority: 1, timeout: 3000 }); // went to sleep with no lease in sight
    first.release(); // `ahead` is granted: the earliest expiry is now 50 ms away
    await ahead; // ...and never released
    const g = await behind; // `behind` must wake at that expiry and reclaim it
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(m.metrics().leasesExpired).toBe(1);
    g.release();
  });
});

describe('ConcurrencyManager on a fake clock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fair: a long-waiting low priority overtakes a fresh higher one', async () => {
    vi.useFakeTimers({ toFake: ['hrtime'] });
    for (const fair of [false, true]) {
      const m = new ConcurrencyManager({ maxConcurrency: 1, fair, agingInterval: 100 });
      const held = await m.acquire();
      const low = m.acquire({ priority: 1 });
      vi.advanceTimersByTime(500); // low has aged to 1 + 5 = 6
      const high = m.acquire({ priority: 5 });
      const { order, permits } = track([low, high], ['low', 'high']);
      held.release();
      await settle();
      permits.get(order[0])?.release();
      await settle();
      permits.get(order[1])?.release();
      expect(order).toEqual(fair ? ['low', 'high'] : ['high', 'low']);
    }
  });

  it('fair: aging stops at priority 10, then the older waiter goes first', async () => {
    vi.useFakeTimers({ toFake: ['hrtime'] });
    const m = new ConcurrencyManager({ maxConcurrency: 1, fair: true, agingInterval: 10 });
    const held = await m.acquire();
    const old = m.acquire({ priority: 1 });
    vi.advanceTimersByTime(10_000);
    const top = m.acquire({ priority: 10 });
    const { order, permits } = track([top, old], ['top', 'old']);
    held.release();
    await settle();
    permits.get(order[0])?.release();
    await settle();
    permits.get(order[1])?.release();
    expect(order).toEqual(['old', 'top']);
  });

  it('a permit whose lease is reclaimed before acquire returns cannot release the next holder', () => {
    // The holding a permit stands for must be the one granted to it, fixed under the lock: here a
    // leaseExpired listener (run between the grant and the return) lets the fresh lease run out and
    // another acquire reclaim the slot and take it again.
    vi.useFakeTimers({ toFake: ['hrtime'] });
    const m = new ConcurrencyManager({ maxConcurrency: 1 });
    expect(m.tryAcquire({ lease: 100 })).toBeDefined();
    vi.advanceTimersByTime(150);
    let inner: ReturnType<typeof m.tryAcquire>;
    let once = true;
    m.on('leaseExpired', () => {
      if (!once) return;
      once = false;
      vi.advanceTimersByTime(200);
      inner = m.tryAcquire();
    });
    const outer = m.tryAcquire({ lease: 100 });
    expect(inner).toBeDefined();
    expect(outer?.held).toBe(false); // its lease was reclaimed and the slot re-granted
    outer?.release();
    expect(inner?.held).toBe(true);
    expect(m.inUse).toBe(1);
    expect(m.tryAcquire()).toBeUndefined();
    inner?.release();
    expect(m.inUse).toBe(0);
  });

  it('a waiter whose grant was reclaimed uncollected, then timed out, is counted timed out, not acquired', async () => {
    // Its event loop came back past the pickup grace and its own deadline: the grant went back (an
    // expired lease), and the waiter rejects with TimeoutError. It was counted acquired (at the
    // grant) and never timed out.
    vi.useFakeTimers({ toFake: ['hrtime'] });
    const m = new ConcurrencyManager({ maxConcurrency: 1 });
    const held = await m.acquire();
    const p = m.acquire({ timeout: 500 });
    held.release(); // granted to p, which has not run since
    vi.advanceTimersByTime(1500);
    expect(m.reclaimExpired()).toBe(1);
    await expect(p).rejects.toThrow(TimeoutError);
    const mt = m.metrics();
    expect({ acquired: mt.acquired, timedOut: mt.timedOut, leasesExpired: mt.leasesExpired }).toEqual({
      acquired: 1,
      timedOut: 1,
      leasesExpired: 1,
    });
    expect([mt.inUse, mt.queued, mt.wait.count]).toEqual([0, 0, 1]);
  });

  it('leases expire on the shared clock; renew() extends them', async () => {
    vi.useFakeTimers({ toFake: ['hrtime'] });
    const m = new ConcurrencyManager({ maxConcurrency: 1 });
    const events: unknown[] = [];
    m.on('leaseExpired', (e) => events.push(e));
    const p = m.tryAcquire({ lease: 100, priority: 3 });
    expect(p).toBeDefined();
    vi.advanceTimersByTime(90);
    expect(p?.renew()).toBe(true); // now expires at 190
    vi.advanceTimersByTime(99);
    expect(m.reclaimExpired()).toBe(0);
    expect(m.tryAcquire()).toBeUndefined();
    vi.advanceTimersByTime(1);
    const q = m.tryAcquire(); // reclaims the expired lease and takes the permit
    expect(q).toBeDefined();
    expect(events).toEqual([{ permit: 0, priority: 3, heldMs: 190 }]);
    expect(p?.held).toBe(false);
    expect(p?.renew()).toBe(false);
    p?.release();
    expect(m.inUse).toBe(1);
    q?.release();
    expect(m.inUse).toBe(0);
  });
});

describe('ConcurrencyManager sharing', () => {
  it('crosses by handle; copies share permits and queue', async () => {
    const m = new ConcurrencyManager({ maxConcurrency: 1, queueLimit: 4, fair: true });
    expect(Object.keys(m)).toEqual(['handle']);
    expect(ConcurrencyManager.from(structuredClone(m))).toBe(m);
    const other = newView<ConcurrencyManager>(structuredClone(m.handle));
    const g = await m.acquire();
    expect(other.inUse).toBe(1);
    const w = other.acquire();
    expect(m.queued).toBe(1);
    g.release();
    (await w).release();
    expect(m.inUse).toBe(0);
  });

  it('from() refuses memory of another shape', () => {
    const m = new ConcurrencyManager({ maxConcurrency: 2 });
    const h = { ...m.handle, id: 'another', config: { ...m.handle.config, maxConcurrency: 3 } };
    expect(() => ConcurrencyManager.from(h)).toThrow(InvalidArgumentError);
    expect(() =>
      ConcurrencyManager.from({ handle: { kind: 'Semaphore', id: 'x', sab: m.handle.sab } }),
    ).toThrow(InvalidArgumentError);
  });
});
