import { AbortError, InvalidArgumentError, Timeout, TimeoutError } from 'skein';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'hrtime'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Timeout', () => {
  it.each([[-1], [Number.NaN], ['10'], [undefined]])('rejects %j with InvalidArgumentError', (ms) => {
    expect(() => new Timeout(ms as never)).toThrow(InvalidArgumentError);
  });

  it('returns what fn returns in time, and clears its timer', async () => {
    const t = new Timeout(100);
    const p = t.execute((signal) => new Promise((r) => setTimeout(() => r(signal.aborted), 50)));
    await vi.advanceTimersByTimeAsync(50);
    expect(await p).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    expect(await t.execute(() => 'sync')).toBe('sync');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with TimeoutError at the limit and aborts the signal it passed in', async () => {
    let inner: AbortSignal | undefined;
    let lateReject!: (e: Error) => void;
    const p = new Timeout(100).execute((signal) => {
      inner = signal;
      return new Promise((_, reject) => (lateReject = reject));
    });
    const caught = p.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(99);
    expect(inner?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const err = await caught;
    expect(err).toBeInstanceOf(TimeoutError);
    expect(inner?.aborted).toBe(true);
    expect(inner?.reason).toBe(err);
    lateReject(new Error('too late')); // dropped: no unhandled rejection
    await vi.advanceTimersByTimeAsync(0);
  });

  it("passes fn's own errors through, thrown or rejected", async () => {
    const t = new Timeout(100);
    await expect(
      t.execute(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    await expect(t.execute(() => Promise.reject(new Error('async')))).rejects.toThrow('async');
    expect(vi.getTimerCount()).toBe(0);
  });

  it("an abort of the caller's signal rejects with AbortError, aborts fn's signal and clears the timer", async () => {
    const ac = new AbortController();
    let inner: AbortSignal | undefined;
    const p = new Timeout(1000).execute(
      (signal) => {
        inner = signal;
        return new Promise(() => {});
      },
      { signal: ac.signal },
    );
    ac.abort('stop');
    await expect(p).rejects.toBeInstanceOf(AbortError);
    expect(inner?.aborted).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    await expect(new Timeout(10).execute(() => 1, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      AbortError,
    );
  });

  it('sets no timer for Infinity', async () => {
    const p = new Timeout(Number.POSITIVE_INFINITY).execute(
      () => new Promise((r) => setTimeout(() => r(1), 10)),
    );
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(10);
    expect(await p).toBe(1);
  });

  it('a limit past 2^31 - 1 ms (what one setTimeout holds) is kept, not cut to 1 ms', async () => {
    const ms = 2 ** 31 + 1000;
    let inner: AbortSignal | undefined;
    const p = new Timeout(ms).execute((signal) => {
      inner = signal;
      return new Promise(() => {});
    });
    const caught = p.catch((e: unknown) => e);
    let settled = false;
    void caught.then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(10);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(ms - 11);
    expect(settled).toBe(false);
    expect(inner?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await caught).toBeInstanceOf(TimeoutError);
    expect(inner?.aborted).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a call that ends before a limit past 2^31 - 1 ms leaves no timer', async () => {
    const t = new Timeout(2 ** 32);
    const p = t.execute(() => new Promise((r) => setTimeout(() => r('v'), 2 ** 31 - 1)));
    const caught = p.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(2 ** 31 - 1);
    expect(await caught).toBe('v');
    expect(await p).toBe('v');
    expect(vi.getTimerCount()).toBe(0);
  });
});
