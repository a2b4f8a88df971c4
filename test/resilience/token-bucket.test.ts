import { AbortError, InvalidArgumentError, newView, TimeoutError, TokenBucket } from 'skein/internal';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// Time is the subject here: fake timers drive both the shared clock (process.hrtime) and the
// timers a waiting acquire sleeps on.
const FAKE = { toFake: ['hrtime', 'setTimeout', 'clearTimeout'] as const };

describe('TokenBucket options', () => {
  it.each([
    ['capacity 0', { capacity: 0, refillPerSecond: 1 }],
    ['negative capacity', { capacity: -1, refillPerSecond: 1 }],
    ['fractional capacity', { capacity: 1.5, refillPerSecond: 1 }],
    ['refillPerSecond 0', { capacity: 1, refillPerSecond: 0 }],
    ['negative refillPerSecond', { capacity: 1, refillPerSecond: -2 }],
    ['NaN refillPerSecond', { capacity: 1, refillPerSecond: Number.NaN }],
    ['infinite refillPerSecond', { capacity: 1, refillPerSecond: Number.POSITIVE_INFINITY }],
    ['missing refillPerSecond', { capacity: 1 }],
    ['a rate so small that 1e9 / rate overflows', { capacity: 1, refillPerSecond: 1e-300 }],
  ])('rejects %s with InvalidArgumentError', (_, opts) => {
    expect(() => new TokenBucket(opts as never)).toThrow(InvalidArgumentError);
  });

  it('rejects bad token counts at the call site', async () => {
    const b = new TokenBucket({ capacity: 3, refillPerSecond: 1 });
    expect(() => b.tryAcquire(0)).toThrow(InvalidArgumentError);
    expect(() => b.tryAcquire(1.5)).toThrow(InvalidArgumentError);
    expect(() => b.tryAcquire(4)).toThrow(/Expected token count to be an integer <= 3, got 4/);
    await expect(b.acquire(4)).rejects.toThrow(InvalidArgumentError);
    await expect(b.acquire(1, { timeout: -1 })).rejects.toThrow(InvalidArgumentError);
    expect(b.available).toBe(3);
  });
});

describe('TokenBucket on a fake clock', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: [...FAKE.toFake] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('starts full, refills continuously, never past capacity', () => {
    const b = new TokenBucket({ capacity: 3, refillPerSecond: 2 });
    expect(b.available).toBe(3);
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire(2)).toBe(true);
    expect(b.tryAcquire()).toBe(false);
    expect(b.available).toBe(0);
    vi.advanceTimersByTime(250);
    expect(b.available).toBeCloseTo(0.5, 9);
    expect(b.tryAcquire()).toBe(false);
    vi.advanceTimersByTime(249);
    expect(b.tryAcquire()).toBe(false);
    vi.advanceTimersByTime(1);
    expect(b.tryAcquire()).toBe(true);
    vi.advanceTimersByTime(60_000);
    expect(b.available).toBe(3);
    expect(b.tryAcquire(3)).toBe(true);
    expect(b.tryAcquire()).toBe(false);
  });

  it('a full bucket gives its whole capacity at once whatever the rate (1e9 / rate not whole ns)', async () => {
    // capacity 10 at 3 per second: 10 tokens once cost 3333333334 ns against a burst of 3333333333.
    const b = new TokenBucket({ capacity: 10, refillPerSecond: 3 });
    expect(b.available).toBe(10);
    expect(b.tryAcquire(10)).toBe(true);
    expect(b.tryAcquire()).toBe(false);
    const c = new TokenBucket({ capacity: 3, refillPerSecond: 7 });
    await expect(c.acquire(3, { timeout: 0 })).resolves.toBeUndefined();
    // One at a time, and after a refill that is back to full, the same.
    vi.advanceTimersByTime(60_000);
    expect(b.available).toBe(10);
    for (let i = 0; i < 10; i++) expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
    // `available` counts what tryAcquire would give: after 1 of 10, 9 (not 8.99999...).
    vi.advanceTimersByTime(60_000);
    expect(b.tryAcquire()).toBe(true);
    expect(b.available).toBe(9);
    expect(b.tryAcquire(9)).toBe(true);
  });

  it('a huge finite timeout books no further than no timeout at all (the shared instant cannot wrap)', async () => {
    // One token per ~31.7 years: ten waiters with timeout 1e300 booked past 2^63 ns, the shared
    // TAT wrapped negative and the bucket looked full again.
    const b = new TokenBucket({ capacity: 1, refillPerSecond: 1e-9 });
    const ac = new AbortController();
    const waits: Array<Promise<unknown>> = [];
    let admitted = 0;
    for (let i = 0; i < 12; i++) {
      const w = b.acquire(1, { timeout: 1e300, signal: ac.signal });
      waits.push(w.then(() => admitted++, (e: unknown) => e));
      expect(b.tryAcquire()).toBe(false);
    }
    await vi.advanceTimersByTimeAsync(10);
    expect(admitted).toBe(1); // the full bucket's one token; every other one is decades away
    ac.abort();
    const settled = await Promise.all(waits);
    // Booked past the longest reservation (as with no timeout): refused at once, not queued.
    expect(settled.filter((e) => e instanceof TimeoutError).length).toBeGreaterThan(0);
  });

  it('acquire sleeps until the tokens are due, serving waiters in order', async () => {
    const b = new TokenBucket({ capacity: 2, refillPerSecond: 10 });
    expect(b.tryAcquire(2)).toBe(true);
    const order: string[] = [];
    const big = b.acquire(2).then(() => order.push('big'));
    const small = b.acquire(1).then(() => order.push('small'));
    await vi.advanceTimersByTimeAsync(199);
    expect(order).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(order).toEqual(['big']);
    // A tryAcquire cannot jump the line while `small` waits.
    expect(b.tryAcquire()).toBe(false);
    await vi.advanceTimersByTimeAsync(100);
    await Promise.all([big, small]);
    expect(order).toEqual(['big', 'small']);
    expect(b.tryAcquire()).toBe(false);
  });

  it('a timeout it cannot meet rejects at once and takes nothing', async () => {
    const b = new TokenBucket({ capacity: 1, refillPerSecond: 1 });
    expect(b.tryAcquire()).toBe(true);
    await vi.advanceTimersByTimeAsync(500);
    await expect(b.acquire(1, { timeout: 499 })).rejects.toThrow(TimeoutError);
    await vi.advanceTimersByTimeAsync(500);
    expect(b.tryAcquire()).toBe(true);
  });

  it('a timeout it can meet waits and succeeds', async () => {
    const b = new TokenBucket({ capacity: 1, refillPerSecond: 1 });
    expect(b.tryAcquire()).toBe(true);
    let done = false;
    const p = b.acquire(1, { timeout: 1000 }).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await p;
    expect(done).toBe(true);
  });

  it('an aborted acquire rejects with AbortError and gives its booking back when it is the last', async () => {
    const b = new TokenBucket({ capacity: 1, refillPerSecond: 1 });
    expect(b.tryAcquire()).toBe(true);
    const ac = new AbortController();
    const first = b.acquire(1, { signal: ac.signal }); // booked: due at 1000 ms
    await vi.advanceTimersByTimeAsync(300);
    ac.abort(new Error('stop'));
    await expect(first).rejects.toThrow(AbortError);
    await expect(first).rejects.toMatchObject({ cause: { message: 'stop' } });
    // The abort gave the 1000 ms token back: the next acquire gets it.
    let secondDone = false;
    const second = b.acquire(1).then(() => (secondDone = true));
    await vi.advanceTimersByTimeAsync(699);
    expect(secondDone).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await second;
    expect(b.tryAcquire()).toBe(false);
  });

  it('an aborted booking with a later one behind it is not given back (that would double-book)', async () => {
    const b = new TokenBucket({ capacity: 1, refillPerSecond: 1 });
    expect(b.tryAcquire()).toBe(true);
    const ac = new AbortController();
    const first = b.acquire(1, { signal: ac.signal }); // due at 1000 ms
    let secondDone = false;
    const second = b.acquire(1).then(() => (secondDone = true)); // booked behind it: due at 2000 ms
    await vi.advanceTimersByTimeAsync(300);
    ac.abort();
    await expect(first).rejects.toThrow(AbortError);
    // A refund here would put `third` at 2000 ms too: two tokens at once from a bucket of one.
    let thirdDone = false;
    const third = b.acquire(1).then(() => (thirdDone = true));
    await vi.advanceTimersByTimeAsync(1700);
    expect([secondDone, thirdDone]).toEqual([true, false]);
    await vi.advanceTimersByTimeAsync(999);
    expect(thirdDone).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await third;
    await second;
  });

  it('an already-aborted signal rejects without booking', async () => {
    const b = new TokenBucket({ capacity: 1, refillPerSecond: 1 });
    await expect(b.acquire(1, { signal: AbortSignal.abort() })).rejects.toThrow(AbortError);
    expect(b.tryAcquire()).toBe(true);
  });
});

describe('TokenBucket sharing', () => {
  it('crosses by handle: from() accepts the clone or the handle and returns the live object', () => {
    const b = new TokenBucket({ capacity: 5, refillPerSecond: 1 });
    expect(Object.keys(b)).toEqual(['handle']);
    const clone = structuredClone(b);
    expect(TokenBucket.from(clone)).toBe(b);
    expect(TokenBucket.from(b.handle)).toBe(b);
    expect(() => TokenBucket.from({ nope: 1 })).toThrow(InvalidArgumentError);
  });

  it('two objects over the same memory draw from the same tokens', () => {
    const b = new TokenBucket({ capacity: 2, refillPerSecond: 0.001 });
    // A second object over the same memory, as another thread would build it.
    const other = newView<TokenBucket>(structuredClone(b.handle));
    expect(other).not.toBe(b);
    expect(b.tryAcquire()).toBe(true);
    expect(other.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
    expect(other.tryAcquire()).toBe(false);
  });
});
