// A key a policy does not take was ignored without a word: `new CircuitBreaker({ failureTreshold: 3 })`
// opened after the default 5 failures, `new RetryPolicy({ maxAttempt: 10 })` tried 3 times. Such a
// key is now InvalidArgumentError naming it, the keys taken, and the one it is a slip of.
import {
  Bulkhead,
  CircuitBreaker,
  compose,
  ConcurrencyManager,
  InvalidArgumentError,
  LeakyBucket,
  RetryPolicy,
  SlidingWindowLimiter,
  Timeout,
  TokenBucket,
} from 'skein';
import { describe, expect, it } from 'vitest';
import { failure } from '../fixtures/failure.js';


describe('unknown option keys of the resilience policies', () => {
  it.each([
    ['CircuitBreaker', () => new CircuitBreaker({ failureTreshold: 3 } as never), /^CircuitBreaker options take only .* got 'failureTreshold' \(did you mean 'failureThreshold'\?\)$/],
    ['CircuitBreaker window', () => new CircuitBreaker({ window: { kind: 'count', sise: 10 } } as never), /^CircuitBreaker window options take only 'kind', 'size', got 'sise' \(did you mean 'size'\?\)$/],
    ['CircuitBreaker resetBackoff', () => new CircuitBreaker({ resetBackoff: { multipler: 2 } } as never), /resetBackoff options take only 'multiplier', 'maxDelay', got 'multipler'/],
    ['RetryPolicy', () => new RetryPolicy({ maxAttempt: 10 } as never), /^RetryPolicy options take only .* got 'maxAttempt' \(did you mean 'maxAttempts'\?\)$/],
    ['Bulkhead', () => new Bulkhead({ maxConcurrent: 1, maxQeue: 4 } as never), /^Bulkhead options take only 'maxConcurrent', 'maxQueue', 'maxWait', got 'maxQeue' \(did you mean 'maxQueue'\?\)$/],
    ['TokenBucket', () => new TokenBucket({ capacity: 5, refillPerSecond: 5, burst: 10 } as never), /^TokenBucket options take only 'capacity', 'refillPerSecond', got 'burst'$/],
    ['LeakyBucket', () => new LeakyBucket({ capacity: 5, leakPerSecond: 5, leakPerSec: 5 } as never), /^LeakyBucket options take only 'capacity', 'leakPerSecond', got 'leakPerSec'$/],
    ['SlidingWindowLimiter', () => new SlidingWindowLimiter({ windowMs: 100, limit: 3, limt: 4 } as never), /got 'limt' \(did you mean 'limit'\?\)$/],
    ['ConcurrencyManager', () => new ConcurrencyManager({ maxConcurrency: 2, queueLimt: 3 } as never), /^ConcurrencyManager options take only .* got 'queueLimt' \(did you mean 'queueLimit'\?\)$/],
  ])('%s', (_name, make, message) => {
    expect(make).toThrow(InvalidArgumentError);
    expect(make).toThrow(message);
  });

  it('execute, acquire and run options: named; a key left undefined is no mistake', async () => {
    const signl = new AbortController().signal;
    const breaker = new CircuitBreaker();
    for (const policy of [breaker, new RetryPolicy(), new Bulkhead({ maxConcurrent: 1 }), new Timeout(1000), compose(breaker)]) {
      const err = await failure(() => policy.execute(() => 1, { signl } as never));
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(err.message).toMatch(/options take only 'signal', got 'signl' \(did you mean 'signal'\?\)$/);
    }
    const m = new ConcurrencyManager({ maxConcurrency: 1 });
    expect((await failure(() => m.acquire({ priorty: 9 } as never))).message).toMatch(/^acquire options take only .* got 'priorty'/);
    expect((await failure(() => m.run(() => 1, { leese: 5 } as never))).message).toMatch(/got 'leese' \(did you mean 'lease'\?\)$/);
    // tryAcquire never waits: a timeout or a signal given to it was ignored.
    expect(() => m.tryAcquire({ timeout: 5 } as never)).toThrow(/^tryAcquire options take only 'priority', 'lease', got 'timeout'$/);
    // The limiters' acquire takes wait options only: `{ timout: 50 }` waited with no time limit.
    const wait = { timout: 50 } as never;
    for (const [what, acquire] of [
      ['TokenBucket', () => new TokenBucket({ capacity: 1, refillPerSecond: 1 }).acquire(1, wait)],
      ['LeakyBucket', () => new LeakyBucket({ capacity: 1, leakPerSecond: 1 }).acquire(wait)],
      ['SlidingWindowLimiter', () => new SlidingWindowLimiter({ windowMs: 100, limit: 1 }).acquire(wait)],
    ] as const) {
      const err = await failure(acquire);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(err.message).toBe(`${what}.acquire options take only 'signal', 'timeout', got 'timout' (did you mean 'timeout'?)`);
    }
    const wo = { signal: new AbortController().signal, timeout: 1000, extra: undefined } as never;
    await new TokenBucket({ capacity: 1, refillPerSecond: 1 }).acquire(1, wo);
    await new LeakyBucket({ capacity: 1, leakPerSecond: 1 }).acquire(wo);
    await new SlidingWindowLimiter({ windowMs: 100, limit: 1 }).acquire(wo);
    // Every documented key is taken.
    const permit = await m.acquire({ priority: 7, lease: 1000, signal: new AbortController().signal, timeout: 1000 });
    permit.release();
    expect(await new RetryPolicy({ maxAttempts: 2, extra: undefined } as never).execute(() => 7)).toBe(7);
    expect(
      new CircuitBreaker({
        failureThreshold: 2,
        failureRateThreshold: 0.5,
        window: { kind: 'time', size: 1000 },
        minimumCalls: 2,
        slowCallDuration: 100,
        slowCallRateThreshold: 0.5,
        resetTimeout: 100,
        resetBackoff: { multiplier: 2, maxDelay: 1000 },
        halfOpenMaxCalls: 1,
        halfOpenTimeout: 100,
        isFailure: () => true,
        fallback: () => 0,
      }).state,
    ).toBe('closed');
    // A shared policy rebuilt from its handle is no user's options object.
    const bucket = new TokenBucket({ capacity: 2, refillPerSecond: 1 });
    expect(TokenBucket.from(bucket.handle).capacity).toBe(2);
  });
});
