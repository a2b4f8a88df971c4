import {
  AbortError,
  BrokenCircuitError,
  Bulkhead,
  CircuitBreaker,
  compose,
  InvalidArgumentError,
  type Policy,
  type PolicyContext,
  RetryPolicy,
  Timeout,
  TimeoutError,
} from 'skein';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'hrtime'] });
});
afterEach(() => {
  vi.useRealTimers();
});

/** A policy that logs when it is entered and left. */
function tracer(name: string, log: string[]): Policy<PolicyContext> {
  return {
    async execute(fn, opts) {
      log.push(`enter ${name}`);
      try {
        return await fn({ signal: opts?.signal ?? new AbortController().signal });
      } finally {
        log.push(`leave ${name}`);
      }
    },
  };
}

describe('compose', () => {
  it('nests policies outermost first', async () => {
    const log: string[] = [];
    const p = compose(tracer('a', log), tracer('b', log), tracer('c', log));
    expect(
      await p.execute(() => {
        log.push('fn');
        return 42;
      }),
    ).toBe(42);
    expect(log).toEqual(['enter a', 'enter b', 'enter c', 'fn', 'leave c', 'leave b', 'leave a']);
    const nested = compose(tracer('x', log), p);
    log.length = 0;
    await nested.execute(() => log.push('fn'));
    expect(log[0]).toBe('enter x');
    expect(log).toHaveLength(9);
  });

  it('retry(breaker(timeout)): each timed-out try counts in the breaker, and retrying stops once it opens', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 2, resetTimeout: 60_000 });
    const retry = new RetryPolicy({ maxAttempts: 5, backoff: 'fixed', initialDelay: 10 });
    const p = compose(retry, breaker, new Timeout(100));
    const tries: { attempt: number; signal: AbortSignal }[] = [];
    const run = p.execute((ctx) => {
      tries.push(ctx);
      return new Promise(() => {});
    });
    const caught = run.catch((e: unknown) => e);
    await vi.runAllTimersAsync();
    expect(await caught).toBeInstanceOf(BrokenCircuitError);
    expect(tries.map((t) => t.attempt)).toEqual([1, 2]);
    expect(tries.every((t) => t.signal.aborted && t.signal.reason instanceof TimeoutError)).toBe(true);
    expect(breaker.metrics()).toMatchObject({ state: 'open', failures: 2, rejected: 3 });
    expect(vi.getTimerCount()).toBe(0);
  });

  it("the caller's abort reaches every layer: AbortError, no timers left", async () => {
    const ac = new AbortController();
    const p = compose(
      new RetryPolicy({ maxAttempts: 3 }),
      new Bulkhead({ maxConcurrent: 1 }),
      new Timeout(1000),
    );
    let inner: AbortSignal | undefined;
    const run = p.execute(
      ({ signal }) => {
        inner = signal;
        return new Promise(() => {});
      },
      { signal: ac.signal },
    );
    await vi.advanceTimersByTimeAsync(0);
    ac.abort();
    await expect(run).rejects.toBeInstanceOf(AbortError);
    expect(inner?.aborted).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('with no policies just runs fn; refuses things that are not policies', async () => {
    expect(await compose().execute(({ attempt }) => attempt)).toBe(1);
    expect(() => compose({} as never)).toThrow(InvalidArgumentError);
    expect(() => compose(new Timeout(1), null as never)).toThrow(InvalidArgumentError);
  });
});
