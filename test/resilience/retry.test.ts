import { AbortError, InvalidArgumentError, now, type RetryOptions, RetryPolicy } from 'skein/internal';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// Time is the subject: delays run on fake timers, and the fake hrtime tells when each try began.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'hrtime'] });
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

/** Runs a policy whose fn always fails; returns the gaps (ms) between consecutive tries. */
async function gaps(opts: RetryOptions): Promise<number[]> {
  const times: number[] = [];
  const p = new RetryPolicy(opts).execute(() => {
    times.push(now());
    throw new Error('again');
  });
  const settled = p.catch(() => {});
  await vi.runAllTimersAsync();
  await settled;
  return times.slice(1).map((t, i) => t - times[i]);
}

describe('RetryPolicy', () => {
  it.each([
    [{ maxAttempts: 0 }],
    [{ maxAttempts: 1.5 }],
    [{ maxAttempts: -1 }],
    [{ maxAttempts: '3' }],
    [{ backoff: 'linear' }],
    [{ initialDelay: -1 }],
    [{ initialDelay: 100, maxDelay: 50 }],
    [{ jitter: 2 }],
    [{ jitter: -0.1 }],
    [{ multiplier: 0.5 }],
    [{ retryIf: true }],
  ])('rejects %j with InvalidArgumentError', (opts) => {
    expect(() => new RetryPolicy(opts as never)).toThrow(InvalidArgumentError);
  });

  it('passes { attempt, signal } and returns the first success', async () => {
    const seen: number[] = [];
    const p = new RetryPolicy({ maxAttempts: 5, backoff: 'fixed', initialDelay: 10 }).execute(
      ({ attempt, signal }) => {
        seen.push(attempt);
        expect(signal).toBeInstanceOf(AbortSignal);
        if (attempt < 3) throw new Error('not yet');
        return `done on ${attempt}`;
      },
    );
    await vi.runAllTimersAsync();
    expect(await p).toBe('done on 3');
    expect(seen).toEqual([1, 2, 3]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a maxDelay below the default initialDelay (100) is taken, and the delays start at it', async () => {
    expect(await gaps({ maxAttempts: 3, backoff: 'fixed', maxDelay: 50 })).toEqual([50, 50]);
  });

  it('waits as the backoff says, capped at maxDelay', async () => {
    expect(await gaps({ maxAttempts: 4, backoff: 'fixed', initialDelay: 100 })).toEqual([100, 100, 100]);
    expect(await gaps({ maxAttempts: 5, backoff: 'exponential', initialDelay: 100 })).toEqual([
      100, 200, 400, 800,
    ]);
    expect(
      await gaps({ maxAttempts: 5, backoff: 'exponential', initialDelay: 10, multiplier: 3, maxDelay: 100 }),
    ).toEqual([10, 30, 90, 100]);
    expect(await gaps({ maxAttempts: 7, backoff: 'fibonacci', initialDelay: 10 })).toEqual([
      10, 10, 20, 30, 50, 80,
    ]);
    const calls: [number, number][] = [];
    const custom = (attempt: number, last: number) => {
      calls.push([attempt, last]);
      return last + 7;
    };
    expect(await gaps({ maxAttempts: 4, backoff: custom })).toEqual([7, 14, 21]);
    expect(calls).toEqual([
      [1, 0],
      [2, 7],
      [3, 14],
    ]);
  });

  it('initialDelay 0 stays 0 however many tries (no NaN or maxDelay once the growth overflows)', async () => {
    for (const backoff of ['exponential', 'decorrelated'] as const) {
      const policy = new RetryPolicy({ maxAttempts: 1100, backoff, initialDelay: 0 });
      const waits: number[] = [];
      policy.onRetry(({ delay }) => waits.push(delay));
      const p = policy.execute(() => {
        throw new Error('again');
      });
      const settled = p.catch(() => {});
      await vi.runAllTimersAsync();
      await settled;
      expect(waits).toHaveLength(1099);
      expect(waits.filter((d) => d !== 0)).toEqual([]);
    }
  });

  it('decorrelated jitter follows the Polly "V2" curve', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const curve = (t: number) => 2 ** t * Math.tanh(Math.sqrt(4 * t));
    const want = [curve(0.5), curve(1.5) - curve(0.5), curve(2.5) - curve(1.5)].map((x) => (x / 1.4) * 100);
    const got = await gaps({ maxAttempts: 4, backoff: 'decorrelated', initialDelay: 100 });
    for (const [i, g] of got.entries()) expect(Math.abs(g - want[i])).toBeLessThan(1); // timers run on whole ms
    vi.restoreAllMocks();
    const d: number[] = [];
    for (let i = 0; i < 50; i++)
      d.push((await gaps({ maxAttempts: 2, backoff: 'decorrelated', initialDelay: 100 }))[0]);
    expect(Math.min(...d)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...d)).toBeLessThan((curve(1) / 1.4) * 100 + 1);
    expect(new Set(d.map(Math.round)).size).toBeGreaterThan(5); // spread out, not one value
  });

  it('jitter takes a random part off each delay', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    expect(await gaps({ maxAttempts: 2, backoff: 'fixed', initialDelay: 100, jitter: true })).toEqual([50]);
    expect(await gaps({ maxAttempts: 2, backoff: 'fixed', initialDelay: 100, jitter: 0.5 })).toEqual([75]);
  });

  it('jitter on an unbounded delay (maxDelay Infinity) waits the longest timer, not NaN (a 1 ms retry)', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const longest = 2 ** 31 - 1; // what one setTimeout holds
    // A backoff function that says "never again soon", and an exponential one whose growth overflows.
    expect(await gaps({ maxAttempts: 3, backoff: () => Infinity, maxDelay: Infinity, jitter: 0.5 })).toEqual([
      longest,
      longest,
    ]);
    const policy = new RetryPolicy({ maxAttempts: 4, initialDelay: 1, multiplier: 1e200, maxDelay: Infinity, jitter: true });
    const waits: number[] = [];
    policy.onRetry(({ delay }) => waits.push(delay));
    const settled = policy.execute(() => Promise.reject(new Error('again'))).catch(() => {});
    await vi.runAllTimersAsync();
    await settled;
    expect(waits).toEqual([0.5, longest, longest]);
  });

  it('gives up by rethrowing the last error itself, cause chain intact', async () => {
    const root = new Error('root');
    let last: Error | undefined;
    const p = new RetryPolicy({ maxAttempts: 3, initialDelay: 1 }).execute(({ attempt }) => {
      last = new Error(`try ${attempt}`, { cause: root });
      throw last;
    });
    const caught = p.catch((e: unknown) => e);
    await vi.runAllTimersAsync();
    const err = await caught;
    expect(err).toBe(last);
    expect((err as Error).message).toBe('try 3');
    expect((err as Error).cause).toBe(root);
  });

  it('stops at once when retryIf says no', async () => {
    const retryIf = vi.fn((err: unknown, _attempt: number) => (err as Error).message !== 'fatal');
    const fn = vi.fn(({ attempt }: { attempt: number }) => {
      throw new Error(attempt === 2 ? 'fatal' : 'transient');
    });
    const p = new RetryPolicy({ maxAttempts: 10, initialDelay: 5, retryIf }).execute(fn);
    const caught = p.catch((e: unknown) => e);
    await vi.runAllTimersAsync();
    expect(((await caught) as Error).message).toBe('fatal');
    expect(fn).toHaveBeenCalledTimes(2);
    expect(retryIf.mock.calls.map((c) => c[1])).toEqual([1, 2]);
  });

  it('an abort during the delay rejects with AbortError at once and clears the timer', async () => {
    const ac = new AbortController();
    const fn = vi.fn(() => {
      throw new Error('x');
    });
    const p = new RetryPolicy({ maxAttempts: 5, initialDelay: 10_000 }).execute(fn, { signal: ac.signal });
    const caught = p.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(1);
    ac.abort('user');
    const err = await caught;
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).cause).toBe('user');
    expect(vi.getTimerCount()).toBe(0);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('an abort during a try rejects at once and aborts the signal the try holds', async () => {
    const ac = new AbortController();
    let inner: AbortSignal | undefined;
    const p = new RetryPolicy({ maxAttempts: 5 }).execute(
      ({ signal }) => {
        inner = signal;
        return new Promise(() => {}); // never settles by itself
      },
      { signal: ac.signal },
    );
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(AbortError);
    expect(inner?.aborted).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('an abort from an onRetry listener rejects at once, with no wait and no further try', async () => {
    // The listener runs synchronously before the wait: the signal is already aborted when it begins.
    const ac = new AbortController();
    const fn = vi.fn(() => {
      throw new Error('x');
    });
    const retry = new RetryPolicy({ maxAttempts: 5, initialDelay: 10_000 });
    retry.onRetry(() => ac.abort('enough'));
    const caught = retry.execute(fn, { signal: ac.signal }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(0);
    const err = await caught;
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).cause).toBe('enough');
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('does not call fn when the signal is already aborted', async () => {
    const fn = vi.fn();
    await expect(new RetryPolicy().execute(fn, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      AbortError,
    );
    expect(fn).not.toHaveBeenCalled();
  });
});
