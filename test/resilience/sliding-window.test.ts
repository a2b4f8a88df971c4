import { AbortError, InvalidArgumentError, newView, now, SlidingWindowLimiter, TimeoutError } from 'skein/internal';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

describe('SlidingWindowLimiter options', () => {
  it.each([
    ['a window of size 0', { windowMs: 0, limit: 1 }],
    ['a negative window', { windowMs: -5, limit: 1 }],
    ['an infinite window', { windowMs: Number.POSITIVE_INFINITY, limit: 1 }],
    ['limit 0', { windowMs: 1000, limit: 0 }],
    ['a negative limit', { windowMs: 1000, limit: -1 }],
    ['a fractional limit', { windowMs: 1000, limit: 1.5 }],
    ['a limit past 2^20', { windowMs: 1000, limit: 2 ** 20 + 1 }],
  ])('rejects %s with InvalidArgumentError', (_, opts) => {
    expect(() => new SlidingWindowLimiter(opts)).toThrow(InvalidArgumentError);
  });

  it('rejects a bad timeout at the call site', async () => {
    const l = new SlidingWindowLimiter({ windowMs: 10, limit: 1 });
    await expect(l.acquire({ timeout: Number.NaN })).rejects.toThrow(InvalidArgumentError);
    expect(l.tryAcquire()).toBe(true);
  });
});

describe('SlidingWindowLimiter on a fake clock', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['hrtime', 'setTimeout', 'clearTimeout'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('admits `limit` per window; a slot frees exactly windowMs after its admission', () => {
    const l = new SlidingWindowLimiter({ windowMs: 1000, limit: 3 });
    expect([l.tryAcquire(), l.tryAcquire(), l.tryAcquire(), l.tryAcquire()]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    vi.advanceTimersByTime(999);
    expect(l.tryAcquire()).toBe(false);
    vi.advanceTimersByTime(1);
    expect(l.tryAcquire()).toBe(true);
    expect(l.tryAcquire()).toBe(true);
    expect(l.tryAcquire()).toBe(true);
    expect(l.tryAcquire()).toBe(false);
  });

  it('slides: what leaves the window is the oldest admission, not a whole fixed window', () => {
    const l = new SlidingWindowLimiter({ windowMs: 1000, limit: 3 });
    expect(l.tryAcquire()).toBe(true); // 0
    vi.advanceTimersByTime(400);
    expect(l.tryAcquire()).toBe(true); // 400
    vi.advanceTimersByTime(400);
    expect(l.tryAcquire()).toBe(true); // 800
    vi.advanceTimersByTime(200);
    expect(l.tryAcquire()).toBe(true); // 1000: the one at 0 left
    expect(l.tryAcquire()).toBe(false);
    vi.advanceTimersByTime(399);
    expect(l.tryAcquire()).toBe(false); // 1399: 400, 800, 1000 are all inside
    vi.advanceTimersByTime(1);
    expect(l.tryAcquire()).toBe(true); // 1400
  });

  it('acquire sleeps until the oldest admission leaves the window', async () => {
    const l = new SlidingWindowLimiter({ windowMs: 500, limit: 2 });
    const t0 = now();
    const at: number[] = [];
    const calls = [0, 1, 2, 3, 4].map(() => l.acquire().then(() => at.push(now() - t0)));
    await vi.advanceTimersByTimeAsync(1000);
    await Promise.all(calls);
    expect(at).toEqual([0, 0, 500, 500, 1000]);
  });

  it('a timeout no slot can meet rejects at once, taking nothing', async () => {
    const l = new SlidingWindowLimiter({ windowMs: 500, limit: 1 });
    expect(l.tryAcquire()).toBe(true);
    await expect(l.acquire({ timeout: 499 })).rejects.toThrow(TimeoutError);
    let done = false;
    const p = l.acquire({ timeout: 500 }).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(500);
    await p;
    expect(done).toBe(true);
    expect(l.tryAcquire()).toBe(false);
  });

  it('an aborted acquire rejects with AbortError and takes nothing', async () => {
    const l = new SlidingWindowLimiter({ windowMs: 500, limit: 1 });
    expect(l.tryAcquire()).toBe(true);
    const ac = new AbortController();
    const p = l.acquire({ signal: ac.signal });
    await vi.advanceTimersByTimeAsync(100);
    ac.abort();
    await expect(p).rejects.toThrow(AbortError);
    await vi.advanceTimersByTimeAsync(400);
    expect(l.tryAcquire()).toBe(true);
  });

  it('keeps counting right across many rounds of its ring', () => {
    const l = new SlidingWindowLimiter({ windowMs: 10, limit: 3 });
    for (let round = 0; round < 50; round++) {
      expect([l.tryAcquire(), l.tryAcquire(), l.tryAcquire(), l.tryAcquire()]).toEqual([
        true,
        true,
        true,
        false,
      ]);
      vi.advanceTimersByTime(10);
    }
  });
});

describe('SlidingWindowLimiter sharing', () => {
  it('crosses by handle; copies share the window', () => {
    const l = new SlidingWindowLimiter({ windowMs: 60_000, limit: 2 });
    expect(Object.keys(l)).toEqual(['handle']);
    expect(SlidingWindowLimiter.from(structuredClone(l))).toBe(l);
    const other = newView<SlidingWindowLimiter>(structuredClone(l.handle));
    expect(other.limit).toBe(2);
    expect(other.windowMs).toBe(60_000);
    expect(l.tryAcquire()).toBe(true);
    expect(other.tryAcquire()).toBe(true);
    expect(l.tryAcquire()).toBe(false);
    expect(other.tryAcquire()).toBe(false);
  });
});

describe('SlidingWindowLimiter very long windows', () => {
  it('a window longer than the empty slots\' placeholder age (73 years) still admits `limit`', () => {
    // "At most 2, ever": empty slots held an admission at -2^61 ns, which a window this long
    // had not yet left, so nothing was ever admitted.
    const l = new SlidingWindowLimiter({ windowMs: Number.MAX_SAFE_INTEGER, limit: 2 });
    expect(l.tryAcquire()).toBe(true);
    expect(l.tryAcquire()).toBe(true);
    expect(l.tryAcquire()).toBe(false);
  });
});

describe('SlidingWindowLimiter long windows (real timers)', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('an acquire without a timeout waits for a window longer than 146 years (no TimeoutError)', async () => {
    // Its deadline was now + 2^62 ns: a slot freeing later than that rejected at once with
    // "no admission frees within undefined ms", though no timeout was given.
    const l = new SlidingWindowLimiter({ windowMs: 1e13, limit: 1 });
    expect(l.tryAcquire()).toBe(true);
    const ac = new AbortController();
    const p = l.acquire({ signal: ac.signal });
    const q = l.acquire({ signal: ac.signal, timeout: Number.POSITIVE_INFINITY });
    setTimeout(() => ac.abort(), 30);
    await expect(p).rejects.toBeInstanceOf(AbortError);
    await expect(q).rejects.toBeInstanceOf(AbortError);
    // A finite timeout is still refused at once.
    await expect(l.acquire({ timeout: 1000 })).rejects.toBeInstanceOf(TimeoutError);
  });

  it('a wait past 2^31 - 1 ms (a 30-day window) sleeps on one timer, not a 1 ms timer loop', async () => {
    // Node clamps a setTimeout past 2^31 - 1 ms to 1 ms: a sleep asking for that woke every ms.
    const l = new SlidingWindowLimiter({ windowMs: 30 * 86_400_000, limit: 1 });
    expect(l.tryAcquire()).toBe(true);
    const spy = vi.spyOn(globalThis, 'setTimeout');
    const ac = new AbortController();
    const p = l.acquire({ signal: ac.signal });
    await new Promise<void>((r) => setImmediate(r));
    const started = spy.mock.calls.length;
    await new Promise<void>((r) => setTimeout(r, 50));
    // Our own 50 ms timer is one call; the limiter adds none while it sleeps.
    expect(spy.mock.calls.length - started).toBe(1);
    expect(spy.mock.calls.every(([, ms]) => (ms ?? 0) <= 2 ** 31 - 1)).toBe(true);
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(AbortError);
  });
});

describe('SlidingWindowLimiter many waiting acquires (real timers)', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('N waiting acquires cost O(N) timers, not O(N^2): only the first of a thread sleeps for a slot', async () => {
    // Every waiter slept until the same oldest admission left the window; all woke, one won, the
    // rest slept again: 2000 waiters on limit 50 set ~40 000 timers (N^2 / 2 limit). Now ~N / limit.
    const l = new SlidingWindowLimiter({ windowMs: 5, limit: 50 });
    const spy = vi.spyOn(globalThis, 'setTimeout');
    const n = 2000;
    const order: number[] = [];
    await Promise.all(Array.from({ length: n }, (_, i) => l.acquire().then(() => order.push(i))));
    expect(spy.mock.calls.length).toBeLessThan(n);
    // Within one thread they are served first come, first served.
    expect(order).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  it('a waiter in line leaves on abort or timeout, takes nothing, and the line goes on', async () => {
    const l = new SlidingWindowLimiter({ windowMs: 100, limit: 1 });
    expect(l.tryAcquire()).toBe(true);
    const first = l.acquire(); // claims: sleeps until the slot frees
    const ac = new AbortController();
    const aborted = l.acquire({ signal: ac.signal });
    const timedOut = l.acquire({ timeout: 150 }); // the slot after `first`'s frees at ~200 ms
    const last = l.acquire({ timeout: 5000 });
    // A timeout the next slot already cannot meet is refused at once, in line or not.
    await expect(l.acquire({ timeout: 10 })).rejects.toBeInstanceOf(TimeoutError);
    ac.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    await first;
    await expect(timedOut).rejects.toBeInstanceOf(TimeoutError);
    await last;
    expect(l.tryAcquire()).toBe(false);
  });
});
