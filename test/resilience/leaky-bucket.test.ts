import {
  AbortError,
  InvalidArgumentError,
  LeakyBucket,
  LeakyBucketFullError,
  newView,
  now,
  SkeinError,
  TimeoutError,
} from 'skein/internal';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

describe('LeakyBucket options', () => {
  it.each([
    ['capacity 0', { capacity: 0, leakPerSecond: 1 }],
    ['negative capacity', { capacity: -3, leakPerSecond: 1 }],
    ['fractional capacity', { capacity: 2.5, leakPerSecond: 1 }],
    ['leakPerSecond 0', { capacity: 1, leakPerSecond: 0 }],
    ['negative leakPerSecond', { capacity: 1, leakPerSecond: -1 }],
    ['string leakPerSecond', { capacity: 1, leakPerSecond: '5' }],
  ])('rejects %s with InvalidArgumentError', (_, opts) => {
    expect(() => new LeakyBucket(opts as never)).toThrow(InvalidArgumentError);
  });

  it('rejects no options at all', () => {
    expect(() => new (LeakyBucket as unknown as new () => LeakyBucket)()).toThrow(InvalidArgumentError);
  });

  it('LeakyBucketFullError is a named SkeinError', () => {
    const e = new LeakyBucketFullError('x');
    expect(e).toBeInstanceOf(SkeinError);
    expect(e.name).toBe('LeakyBucketFullError');
  });
});

describe('LeakyBucket on a fake clock', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['hrtime', 'setTimeout', 'clearTimeout'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('holds capacity drops at once whatever the rate (1e9 / rate not whole ns)', () => {
    const b = new LeakyBucket({ capacity: 3, leakPerSecond: 7 });
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
  });

  it('lets waiting calls through one every 1000/leakPerSecond ms, in order', async () => {
    const b = new LeakyBucket({ capacity: 5, leakPerSecond: 10 });
    const t0 = now();
    const passed: Array<[number, number]> = [];
    const calls = [0, 1, 2, 3, 4].map((i) => b.acquire().then(() => passed.push([i, now() - t0])));
    await vi.advanceTimersByTimeAsync(1000);
    await Promise.all(calls);
    expect(passed).toEqual([
      [0, 0],
      [1, 100],
      [2, 200],
      [3, 300],
      [4, 400],
    ]);
  });

  it('queues at most capacity waiting calls; one more overflows at once', async () => {
    const b = new LeakyBucket({ capacity: 3, leakPerSecond: 10 });
    const calls = [b.acquire(), b.acquire(), b.acquire(), b.acquire()]; // 1 passes, 3 wait
    await expect(b.acquire()).rejects.toThrow(LeakyBucketFullError);
    expect(b.level).toBeCloseTo(4, 9);
    await vi.advanceTimersByTimeAsync(100); // one leaves: room for one more
    const late = b.acquire();
    await expect(b.acquire()).rejects.toThrow(LeakyBucketFullError);
    await vi.advanceTimersByTimeAsync(300);
    await Promise.all([...calls, late]);
    expect(b.level).toBeCloseTo(1, 9); // `late` passed at 400, its drop leaks by 500
    await vi.advanceTimersByTimeAsync(100);
    expect(b.level).toBe(0);
  });

  it('tryAcquire admits while the bucket has room, then one per interval', () => {
    const b = new LeakyBucket({ capacity: 2, leakPerSecond: 4 });
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
    vi.advanceTimersByTime(249);
    expect(b.tryAcquire()).toBe(false);
    vi.advanceTimersByTime(1);
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
  });

  it('tryAcquire does not jump ahead of waiting calls', async () => {
    const b = new LeakyBucket({ capacity: 3, leakPerSecond: 10 });
    const waiting = [b.acquire(), b.acquire(), b.acquire()];
    expect(b.tryAcquire()).toBe(false);
    await vi.advanceTimersByTimeAsync(200);
    await Promise.all(waiting);
    expect(b.tryAcquire()).toBe(true); // level 1 (the call that passed at 200) + 1 <= 3
  });

  it('a slot past the timeout is refused at once and takes nothing', async () => {
    const b = new LeakyBucket({ capacity: 5, leakPerSecond: 10 });
    const t0 = now();
    await b.acquire();
    const second = b.acquire({ timeout: 100 }); // slot at 100: within the timeout
    await expect(b.acquire({ timeout: 199 })).rejects.toThrow(TimeoutError); // slot would be 200
    let at = -1;
    const p = b.acquire().then(() => (at = now() - t0));
    await vi.advanceTimersByTimeAsync(300);
    await Promise.all([second, p]);
    expect(at).toBe(200); // the refused call left no hole
  });

  it('an aborted wait gives its slot back', async () => {
    const b = new LeakyBucket({ capacity: 5, leakPerSecond: 10 });
    await b.acquire();
    const ac = new AbortController();
    const aborted = b.acquire({ signal: ac.signal }); // slot 100
    await vi.advanceTimersByTimeAsync(50);
    ac.abort();
    await expect(aborted).rejects.toThrow(AbortError);
    const t0 = now();
    let at = -1;
    const p = b.acquire().then(() => (at = now() - t0));
    await vi.advanceTimersByTimeAsync(100);
    await p;
    expect(at).toBe(50); // the freed slot at 100 ms, not 200
  });
});

describe('LeakyBucket sharing', () => {
  it('crosses by handle and shares its level', () => {
    const b = new LeakyBucket({ capacity: 1, leakPerSecond: 0.001 });
    expect(Object.keys(b)).toEqual(['handle']);
    expect(LeakyBucket.from(structuredClone(b))).toBe(b);
    const other = newView<LeakyBucket>(structuredClone(b.handle));
    expect(other.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
    expect(other.capacity).toBe(1);
    expect(other.leakPerSecond).toBe(0.001);
  });
});
