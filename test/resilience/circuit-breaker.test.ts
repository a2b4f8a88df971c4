import {
  AbortError,
  BrokenCircuitError,
  CircuitBreaker,
  InvalidArgumentError,
  newView,
  type StateChangeEvent,
} from 'skein/internal';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// Time is the subject here: fake timers drive setTimeout and process.hrtime (which skein's clock reads).
beforeEach(() => {
  vi.useFakeTimers({
    toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'hrtime'],
  });
});
afterEach(() => {
  vi.useRealTimers();
});

const boom = (): never => {
  throw new Error('boom');
};

/** Runs one call and says how it ended: 'ok', 'fail' (fn's error) or 'refused' (BrokenCircuitError). */
async function call(b: CircuitBreaker, fails = false): Promise<'ok' | 'fail' | 'refused'> {
  try {
    await b.execute(() => (fails ? boom() : 1));
    return 'ok';
  } catch (err) {
    if (err instanceof BrokenCircuitError) return 'refused';
    return 'fail';
  }
}

/** One call of `b` that takes `ms` (fake timers: the clock is moved on by `ms` while it runs). */
async function callLasting(b: CircuitBreaker, ms: number): Promise<void> {
  const p = b.execute(() => new Promise((r) => setTimeout(r, ms)));
  await vi.advanceTimersByTimeAsync(ms);
  await p;
}

describe('CircuitBreaker options', () => {
  it.each([
    [{ failureThreshold: 0 }],
    [{ failureThreshold: 1.5 }],
    [{ failureRateThreshold: 0 }],
    [{ failureRateThreshold: 1.5 }],
    [{ failureRateThreshold: Number.NaN }],
    [{ failureRateThreshold: 0.5, window: { kind: 'count', size: 0 } }],
    [{ failureRateThreshold: 0.5, window: { kind: 'time', size: 0 } }],
    [{ failureRateThreshold: 0.5, window: { kind: 'sliding', size: 10 } }],
    [{ failureRateThreshold: 0.5, window: { kind: 'count', size: 10 }, minimumCalls: 11 }],
    [{ minimumCalls: 0 }],
    [{ resetTimeout: -1 }],
    [{ resetTimeout: Number.POSITIVE_INFINITY }],
    [{ resetBackoff: { multiplier: 0.5 } }],
    [{ resetTimeout: 1000, resetBackoff: { maxDelay: 500 } }],
    [{ halfOpenMaxCalls: 0 }],
    [{ slowCallDuration: 0 }],
    [{ slowCallRateThreshold: 0.5 }],
    [{ slowCallDuration: 10, slowCallRateThreshold: 2 }],
    [{ isFailure: 'yes' }],
    [{ fallback: 42 }],
  ])('rejects %j with InvalidArgumentError', (opts) => {
    expect(() => new CircuitBreaker(opts as never)).toThrow(InvalidArgumentError);
  });

  it('refuses a window or minimumCalls without a rate to judge over them, naming the option', () => {
    // Consecutive failures count over the whole closed epoch: such a window was silently ignored,
    // and this breaker opened after 3 failures an hour apart.
    expect(() => new CircuitBreaker({ failureThreshold: 3, window: { kind: 'time', size: 10_000 } })).toThrow(
      /^Expected window to be given together with failureRateThreshold or slowCallDuration/,
    );
    expect(() => new CircuitBreaker({ minimumCalls: 10 })).toThrow(
      /^Expected minimumCalls to be given together with failureRateThreshold or slowCallDuration/,
    );
    expect(() => new CircuitBreaker({ minimumCalls: 10 })).toThrow(InvalidArgumentError);
    // With a rate (failures, or slow calls) both are what they were.
    expect(new CircuitBreaker({ failureThreshold: 3, failureRateThreshold: 0.5, window: { kind: 'time', size: 10_000 } }).config)
      .toMatchObject({ failureThreshold: 3, windowKind: 'time', windowSize: 10_000, minimumCalls: 10 });
    expect(new CircuitBreaker({ slowCallDuration: 100, window: { kind: 'count', size: 20 }, minimumCalls: 5 }).config)
      .toMatchObject({ windowKind: 'count', windowSize: 20, minimumCalls: 5 });
  });

  it('fills in defaults: consecutive mode with 5 failures, 30 s reset, one probe', () => {
    const c = new CircuitBreaker().config;
    expect(c).toMatchObject({
      failureThreshold: 5,
      failureRateThreshold: 0,
      resetTimeout: 30_000,
      halfOpenMaxCalls: 1,
    });
    const r = new CircuitBreaker({ failureRateThreshold: 0.5 }).config;
    expect(r).toMatchObject({ failureThreshold: 0, windowKind: 'count', windowSize: 100, minimumCalls: 100 });
  });

  it('has exactly one own enumerable property, its handle', () => {
    const b = new CircuitBreaker();
    expect(Object.keys(b)).toEqual(['handle']);
    expect(b.handle.kind).toBe('CircuitBreaker');
    expect(CircuitBreaker.from(structuredClone(b))).toBe(b);
    expect(CircuitBreaker.from(b.handle)).toBe(b);
    expect(() => CircuitBreaker.from({ handle: { ...b.handle, kind: 'Semaphore' } })).toThrow(
      InvalidArgumentError,
    );
  });
});

describe('CircuitBreaker, consecutive failures', () => {
  it('opens after failureThreshold failures in a row and refuses without calling fn', async () => {
    const b = new CircuitBreaker({ failureThreshold: 3, resetTimeout: 1000 });
    expect(await call(b, true)).toBe('fail');
    expect(await call(b, true)).toBe('fail');
    expect(await call(b)).toBe('ok'); // resets the run
    expect(await call(b, true)).toBe('fail');
    expect(await call(b, true)).toBe('fail');
    expect(b.state).toBe('closed');
    expect(await call(b, true)).toBe('fail');
    expect(b.state).toBe('open');
    const fn = vi.fn(() => 1);
    await expect(b.execute(fn)).rejects.toBeInstanceOf(BrokenCircuitError);
    expect(fn).not.toHaveBeenCalled();
    expect(b.metrics()).toMatchObject({ successes: 1, failures: 5, rejected: 1, consecutiveFailures: 3 });
  });

  it('half-opens after resetTimeout; a successful probe closes it, a failed one reopens it', async () => {
    const b = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 1000 });
    await call(b, true);
    // Epoch ms, on Date.now()'s clock: what a user can compare them with (not skein's internal clock).
    expect(b.metrics().openedAt).toBeCloseTo(Date.now(), 2);
    expect(b.metrics().nextAttemptAt).toBeCloseTo(Date.now() + 1000, 2);
    vi.advanceTimersByTime(999);
    expect(await call(b)).toBe('refused');
    vi.advanceTimersByTime(1);
    expect(await call(b, true)).toBe('fail'); // the probe
    expect(b.state).toBe('open');
    vi.advanceTimersByTime(1000);
    expect(await call(b)).toBe('ok');
    expect(b.state).toBe('closed');
  });

  it('admits exactly halfOpenMaxCalls probes; all must succeed to close', async () => {
    const b = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 100, halfOpenMaxCalls: 2 });
    await call(b, true);
    vi.advanceTimersByTime(100);
    const gates: (() => void)[] = [];
    const probe = () => b.execute(() => new Promise<void>((r) => gates.push(r)));
    const p1 = probe();
    const p2 = probe();
    expect(b.state).toBe('half-open');
    expect(b.metrics().halfOpenProbes).toBe(2);
    expect(await call(b)).toBe('refused');
    gates[0]();
    await p1;
    expect(b.state).toBe('half-open');
    gates[1]();
    await p2;
    expect(b.state).toBe('closed');
  });

  it('grows the open time by resetBackoff after each failed probe, and forgets it on close', async () => {
    const b = new CircuitBreaker({
      failureThreshold: 1,
      resetTimeout: 100,
      resetBackoff: { multiplier: 3, maxDelay: 500 },
    });
    await call(b, true);
    const openFor = () => (b.metrics().nextAttemptAt ?? 0) - (b.metrics().openedAt ?? 0);
    expect(openFor()).toBeCloseTo(100);
    for (const expected of [300, 500, 500]) {
      vi.advanceTimersByTime(openFor());
      expect(await call(b, true)).toBe('fail');
      expect(openFor()).toBeCloseTo(expected);
    }
    expect(b.metrics().backoffLevel).toBe(3);
    vi.advanceTimersByTime(500);
    expect(await call(b)).toBe('ok');
    expect(b.metrics().backoffLevel).toBe(0);
    await call(b, true);
    expect(openFor()).toBeCloseTo(100);
  });

  it('does not count outcomes of calls admitted before a transition', async () => {
    const b = new CircuitBreaker({ failureThreshold: 2 });
    let release!: (v?: unknown) => void;
    const slow = b.execute(() => new Promise((_, reject) => (release = reject)));
    await call(b, true);
    b.reset();
    release(new Error('late'));
    await expect(slow).rejects.toThrow('late');
    expect(b.metrics().consecutiveFailures).toBe(0);
    await call(b, true);
    expect(b.state).toBe('closed');
  });
});

describe('CircuitBreaker, failure rate', () => {
  it('judges the rate over the last `size` calls once minimumCalls are in', async () => {
    const b = new CircuitBreaker({
      failureRateThreshold: 0.5,
      window: { kind: 'count', size: 4 },
      minimumCalls: 4,
    });
    for (let i = 0; i < 3; i++) await call(b, true); // 3 of 3 failed, but fewer than minimumCalls
    expect(b.state).toBe('closed');
    await call(b); // 3 of 4
    expect(b.state).toBe('open');
    b.reset();
    for (const f of [true, false, false, false, false]) await call(b, f); // slides the failure out
    expect(b.metrics()).toMatchObject({ windowCalls: 4, windowFailures: 0, state: 'closed' });
    await call(b, true);
    expect(b.state).toBe('closed'); // 1 of 4
    await call(b, true);
    expect(b.state).toBe('open'); // 2 of 4 = 0.5
    expect(b.metrics().failureRate).toBe(0.5);
  });

  it('judges the rate over a time window, whose old calls age out', async () => {
    const b = new CircuitBreaker({
      failureRateThreshold: 0.5,
      window: { kind: 'time', size: 1000 },
      minimumCalls: 4,
    });
    await call(b, true);
    await call(b, true);
    await call(b);
    vi.advanceTimersByTime(1000); // the three calls leave the window
    expect(b.metrics().windowCalls).toBe(0);
    await call(b, true);
    await call(b);
    await call(b);
    expect(b.state).toBe('closed');
    vi.advanceTimersByTime(500);
    await call(b, true);
    expect(b.state).toBe('open'); // 2 of 4 in the last second
  });

  it('opens when the rate equals a decimal threshold (7 of 100 at 0.07), as metrics().failureRate reports it', async () => {
    // 0.07 * 100 is 7.000000000000001 in floating point: a product against the count missed it.
    const b = new CircuitBreaker({
      failureRateThreshold: 0.07,
      window: { kind: 'count', size: 100 },
    });
    for (let i = 0; i < 93; i++) await call(b);
    for (let i = 0; i < 6; i++) await call(b, true);
    expect(b.state).toBe('closed');
    await call(b, true);
    expect(b.metrics().failureRate).toBe(0.07);
    expect(b.state).toBe('open');
    // The same for the slow-call rate: 14 slow of 25 at 0.56.
    const s = new CircuitBreaker({
      slowCallDuration: 100,
      slowCallRateThreshold: 0.56,
      window: { kind: 'count', size: 25 },
    });
    for (let i = 0; i < 11; i++) await callLasting(s, 1);
    for (let i = 0; i < 13; i++) await callLasting(s, 100);
    expect(s.state).toBe('closed');
    await callLasting(s, 100);
    expect(s.metrics().slowCallRate).toBe(0.56);
    expect(s.state).toBe('open');
  });

  it('opens on the slow-call rate', async () => {
    const b = new CircuitBreaker({
      slowCallDuration: 100,
      slowCallRateThreshold: 0.5,
      window: { kind: 'count', size: 4 },
      minimumCalls: 2,
    });
    await callLasting(b, 10);
    await callLasting(b, 10);
    await callLasting(b, 150);
    expect(b.state).toBe('closed');
    await callLasting(b, 100);
    expect(b.state).toBe('open');
    expect(b.metrics()).toMatchObject({ slowCalls: 2, windowSlowCalls: 2, slowCallRate: 0.5 });
  });

  it('a probe that succeeds but is slow reopens it, whatever the rate threshold (as documented)', async () => {
    // slowCallRateThreshold defaults to 1: in closed, only a window of slow calls opens it.
    const b = new CircuitBreaker({
      slowCallDuration: 100,
      window: { kind: 'count', size: 2 },
      resetTimeout: 50,
      halfOpenMaxCalls: 2,
    });
    await callLasting(b, 150);
    await callLasting(b, 150);
    expect(b.state).toBe('open');
    vi.advanceTimersByTime(50);
    await callLasting(b, 10); // probe 1: quick
    expect(b.state).toBe('half-open');
    await callLasting(b, 150); // probe 2: succeeds, but slow
    expect(b.state).toBe('open');
    expect(b.metrics()).toMatchObject({ backoffLevel: 1, successes: 4, failures: 0 });
  });
});

describe('CircuitBreaker, isFailure, fallback, forcing', () => {
  class RateLimited extends Error {}
  class BadCredentials extends Error {}
  class NotFound extends Error {}
  const isFailure = (err: unknown) =>
    err instanceof RateLimited
      ? 'ignore'
      : err instanceof BadCredentials
        ? 'permanent'
        : err instanceof NotFound
          ? 'success'
          : true;

  it('ignores, counts as success, or opens at once as isFailure says; errors are rethrown', async () => {
    const b = new CircuitBreaker({ failureThreshold: 2, isFailure });
    await call(b, true);
    await expect(b.execute(() => Promise.reject(new RateLimited()))).rejects.toBeInstanceOf(RateLimited);
    expect(b.metrics()).toMatchObject({ consecutiveFailures: 1, ignored: 1 });
    await expect(b.execute(() => Promise.reject(new NotFound()))).rejects.toBeInstanceOf(NotFound);
    expect(b.metrics()).toMatchObject({ consecutiveFailures: 0, successes: 1 });
    await expect(b.execute(() => Promise.reject(new BadCredentials()))).rejects.toBeInstanceOf(
      BadCredentials,
    );
    expect(b.state).toBe('open');
  });

  it('an ignored probe frees its slot for the next one', async () => {
    const b = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 10, isFailure });
    await call(b, true);
    vi.advanceTimersByTime(10);
    await expect(b.execute(() => Promise.reject(new RateLimited()))).rejects.toBeInstanceOf(RateLimited);
    expect(b.state).toBe('half-open');
    expect(await call(b)).toBe('ok');
    expect(b.state).toBe('closed');
  });

  it('gives refused calls and counted failures to fallback, but not ignored errors', async () => {
    const fallback = vi.fn((err: unknown) => `fallback:${(err as Error).name}`);
    const b = new CircuitBreaker({ failureThreshold: 1, isFailure, fallback });
    await expect(b.execute(() => Promise.reject(new RateLimited()))).rejects.toBeInstanceOf(RateLimited);
    expect(await b.execute(boom)).toBe('fallback:Error');
    expect(await b.execute(() => 1)).toBe('fallback:BrokenCircuitError');
    expect(fallback).toHaveBeenCalledTimes(2);
  });

  it('forceOpen refuses until forceClose or reset; forced-closed admits and counts nothing', async () => {
    const b = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 10 });
    b.forceOpen();
    expect(b.state).toBe('forced-open');
    vi.advanceTimersByTime(1000);
    expect(await call(b)).toBe('refused');
    b.forceClose();
    expect(b.state).toBe('forced-closed');
    for (let i = 0; i < 5; i++) expect(await call(b, true)).toBe('fail');
    expect(b.state).toBe('forced-closed');
    b.reset();
    expect(b.state).toBe('closed');
    expect(await call(b, true)).toBe('fail');
    expect(b.state).toBe('open');
    b.reset();
    expect(b.metrics()).toMatchObject({ state: 'closed', consecutiveFailures: 0, backoffLevel: 0 });
  });

  it('rejects with AbortError, without calling fn, when the signal is already aborted', async () => {
    const b = new CircuitBreaker();
    const fn = vi.fn();
    const ac = new AbortController();
    ac.abort('stop');
    await expect(b.execute(fn, { signal: ac.signal })).rejects.toBeInstanceOf(AbortError);
    expect(fn).not.toHaveBeenCalled();
    await expect(b.execute('nope' as never)).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe('CircuitBreaker stateChange', () => {
  it('reports each transition synchronously in the thread that made it, until off', async () => {
    const b = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 10 });
    const seen: StateChangeEvent[] = [];
    const listener = (e: StateChangeEvent) => seen.push(e);
    b.on('stateChange', listener);
    await call(b, true);
    expect(seen).toEqual([{ from: 'closed', to: 'open' }]);
    vi.advanceTimersByTime(10);
    await call(b);
    b.forceOpen();
    b.reset();
    b.reset(); // closed -> closed is no change
    expect(seen.map((e) => e.to)).toEqual(['open', 'half-open', 'closed', 'forced-open', 'closed']);
    b.off('stateChange', listener);
    await call(b, true);
    expect(seen).toHaveLength(5);
    expect(() => b.on('change' as never, listener)).toThrow(InvalidArgumentError);
  });

  it('collapses more than 16 unseen transitions into one event', async () => {
    const b = new CircuitBreaker();
    const twin = newView<CircuitBreaker>(structuredClone(b.handle)); // a second view, as another thread has
    const seen: StateChangeEvent[] = [];
    twin.on('stateChange', (e) => seen.push(e));
    for (let i = 0; i < 10; i++) {
      b.forceOpen();
      b.forceClose();
    }
    b.forceOpen();
    await vi.waitFor(() => expect(seen).toEqual([{ from: 'closed', to: 'forced-open' }]));
  });
});

// callNow is execute for the pipeline's worker loop: the same bookkeeping, but synchronous as far as
// the function is, so a quick stage costs no promise.
describe('CircuitBreaker.callNow (internal)', () => {
  it('answers a synchronous call synchronously, counting it as execute does', () => {
    const b = new CircuitBreaker({ failureThreshold: 2 });
    expect(b.callNow(() => 41 + 1)).toBe(42);
    expect(() => b.callNow(boom)).toThrow('boom');
    expect(b.metrics()).toMatchObject({ successes: 1, failures: 1, consecutiveFailures: 1 });
    expect(() => b.callNow(boom)).toThrow('boom');
    expect(b.state).toBe('open');
    expect(() => b.callNow(() => 1)).toThrow(BrokenCircuitError); // refused at once, fn not run
    expect(b.metrics().rejected).toBe(1);
  });

  it('returns a promise for an asynchronous call and settles the count when it does', async () => {
    const b = new CircuitBreaker({ failureThreshold: 1 });
    const p = b.callNow(() => Promise.resolve('later'));
    expect(p).toBeInstanceOf(Promise);
    await expect(p).resolves.toBe('later');
    expect(b.metrics().successes).toBe(1);
    await expect(b.callNow(() => Promise.reject(new RangeError('no')))).rejects.toBeInstanceOf(RangeError);
    expect(b.state).toBe('open');
  });

  it('gives a failure or a refusal to the fallback, synchronously when the fallback is', () => {
    const b = new CircuitBreaker({ failureThreshold: 1, fallback: (err) => `fallback: ${(err as Error).name}` });
    expect(b.callNow(boom)).toBe('fallback: Error');
    expect(b.state).toBe('open');
    expect(b.callNow(() => 1)).toBe('fallback: BrokenCircuitError');
  });
});

describe('CircuitBreaker: results that are thenables in disguise', () => {
  it('a result whose `then` getter throws fails the call it let in (no probe left held)', async () => {
    const b = new CircuitBreaker({ failureThreshold: 1 });
    const bad = {
      get then(): never {
        throw new RangeError('then getter');
      },
    };
    await expect(b.execute(() => bad)).rejects.toBeInstanceOf(RangeError);
    expect(b.metrics()).toMatchObject({ failures: 1 });
    expect(b.state).toBe('open');
  });

  it('a function with a `then` method is awaited, and its rejection counts as a failure', async () => {
    const b = new CircuitBreaker({ failureThreshold: 1 });
    const callable = Object.assign(() => 0, {
      then: (_ok: unknown, fail: (e: unknown) => void) => fail(new RangeError('callable thenable')),
    });
    await expect(b.execute(() => callable)).rejects.toBeInstanceOf(RangeError);
    expect(b.metrics()).toMatchObject({ failures: 1, successes: 0 });
    expect(b.state).toBe('open');
  });

  it("callNow runs a subclass's own execute", async () => {
    let seen = 0;
    class Counted extends CircuitBreaker {
      override execute<T>(...args: Parameters<CircuitBreaker['execute']>): Promise<T> {
        seen++;
        return super.execute(...args) as Promise<T>;
      }
    }
    await expect(new Counted().callNow(() => 5)).resolves.toBe(5);
    expect(seen).toBe(1);
  });
});
