// The resilience layer's types as a strict TypeScript user meets them through the package root:
// what `execute` resolves to, the event payloads, and the shapes a user needs to name (a listener
// kept in a variable, a helper that takes a composed policy's context, a metrics summary). Checked
// by `tsc -p tsconfig.json` (npm test typechecks); each test also runs, so the types are shown to
// agree with what comes back.
import {
  Bulkhead,
  CircuitBreaker,
  compose,
  ConcurrencyManager,
  RetryPolicy,
  Timeout,
  type BreakerFunctions,
  type CircuitBreakerOptions,
  type CircuitState,
  type ComposedContext,
  type ConcurrencyManagerEvents,
  type HistogramSummary,
  type StateChangeEvent,
} from 'skein';
import { readFileSync } from 'node:fs';
import { describe, expect, expectTypeOf, it } from 'vitest';

describe('resilience types', () => {
  it('execute resolves to what the function returns, awaited', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 2 });
    expectTypeOf(breaker.execute(() => 1)).toEqualTypeOf<Promise<number>>();
    expectTypeOf(breaker.execute(async () => 'a')).toEqualTypeOf<Promise<string>>();
    expectTypeOf(new RetryPolicy().execute((ctx) => ctx.attempt)).toEqualTypeOf<Promise<number>>();
    expectTypeOf(new Bulkhead({ maxConcurrent: 1 }).execute(() => true)).toEqualTypeOf<Promise<boolean>>();
    expectTypeOf(new Timeout(1000).execute((signal) => signal.aborted)).toEqualTypeOf<Promise<boolean>>();
    expect(await new RetryPolicy({ maxAttempts: 2 }).execute((ctx) => ctx.attempt)).toBe(1);
  });

  it("execute with a fallback resolves to the function's result or the fallback's, and is typed so", async () => {
    // It was typed Promise<T> whatever the fallback returned: here Promise<number>, resolving to 'cached'.
    const withFallback = new CircuitBreaker({ failureThreshold: 1, fallback: () => 'cached' });
    expectTypeOf(withFallback.execute(() => 1)).toEqualTypeOf<Promise<number | string>>();
    expectTypeOf(new CircuitBreaker({ fallback: async () => null }).execute(async () => 1)).toEqualTypeOf<
      Promise<number | null>
    >();
    expectTypeOf(new CircuitBreaker().execute(() => 1)).toEqualTypeOf<Promise<number>>();
    withFallback.forceOpen();
    const got = await withFallback.execute(() => 1);
    expect(got).toBe('cached');
    // Rebuilt with this thread's fallback, the type follows it; without one, there is none.
    const revived = CircuitBreaker.from(new CircuitBreaker().handle, { fallback: () => 0n });
    expectTypeOf(revived.execute(() => 'x')).toEqualTypeOf<Promise<string | bigint>>();
    expectTypeOf(CircuitBreaker.from(new CircuitBreaker().handle).execute(() => 'x')).toEqualTypeOf<Promise<string>>();
    // Composed, the breaker's fallback still shows.
    const policy = compose(new RetryPolicy({ maxAttempts: 1 }), withFallback, new Timeout(1000));
    expectTypeOf(policy.execute(() => 1)).toEqualTypeOf<Promise<number | string>>();
    expect(await policy.execute(() => 1)).toBe('cached');
    // Options typed by hand without `F` may hold any fallback: unknown.
    const opts: CircuitBreakerOptions = { fallback: () => 'x' };
    expectTypeOf(new CircuitBreaker(opts).execute(() => 1)).toEqualTypeOf<Promise<unknown>>();
  });

  it("a composed policy's context can be named, and its execute is typed", async () => {
    const attemptOf = (ctx: ComposedContext): number => ctx.attempt;
    const policy = compose(new RetryPolicy({ maxAttempts: 2 }), new Timeout(1000));
    expectTypeOf(policy.execute(attemptOf)).toEqualTypeOf<Promise<number>>();
    expect(await policy.execute(attemptOf)).toBe(1);
  });

  it("the breaker's stateChange payload and the functions CircuitBreaker.from takes", () => {
    const seen: CircuitState[] = [];
    const listener = (e: StateChangeEvent): void => {
      seen.push(e.to);
    };
    const fns: BreakerFunctions = { isFailure: (err) => !(err instanceof RangeError), fallback: () => 'cached' };
    const breaker = CircuitBreaker.from(new CircuitBreaker({ failureThreshold: 1 }).handle, fns);
    breaker.on('stateChange', listener);
    breaker.forceOpen();
    expect(seen).toEqual(['forced-open']);
  });

  it("a ConcurrencyManager's event payloads and wait summary can be named", async () => {
    const cm = new ConcurrencyManager({ maxConcurrency: 1 });
    const acquired: ConcurrencyManagerEvents['acquire'][0][] = [];
    const onAcquire = (e: ConcurrencyManagerEvents['acquire'][0]): void => {
      acquired.push(e);
    };
    cm.on('acquire', onAcquire);
    const ran = cm.run(() => 7);
    expectTypeOf(ran).toEqualTypeOf<Promise<number>>();
    expect(await ran).toBe(7);
    expect(acquired).toHaveLength(1);
    expect(acquired[0].priority).toBeTypeOf('number');
    const wait: HistogramSummary = cm.metrics().wait;
    expect(wait.count).toBe(1);
  });

  it("every public class of the layer carries its doc (and its @example) in the published declarations", () => {
    // An editor shows a class's doc from the .d.ts; a doc comment separated from its class by
    // other declarations is dropped there (RetryPolicy's was, behind RetryEvent and GiveUpEvent).
    const dir = new URL('../../dist/src/resilience/', import.meta.url);
    const classes: [string, string][] = [
      ['retry', 'RetryPolicy'],
      ['timeout', 'Timeout'],
      ['bulkhead', 'Bulkhead'],
      ['circuit-breaker', 'CircuitBreaker'],
      ['token-bucket', 'TokenBucket'],
      ['leaky-bucket', 'LeakyBucket'],
      ['sliding-window-limiter', 'SlidingWindowLimiter'],
      ['concurrency-manager', 'ConcurrencyManager'],
      ['concurrency-manager-permit', 'ConcurrencyPermit'],
    ];
    const undocumented = classes.filter(([file, name]) => {
      const dts = readFileSync(new URL(`${file}.d.ts`, dir), 'utf8');
      const at = dts.search(new RegExp(`^export declare class ${name}\\b`, 'm'));
      const before = dts.slice(0, at).trimEnd();
      return at < 0 || !before.endsWith('*/') || !before.slice(before.lastIndexOf('/**')).includes('@example');
    });
    expect(undocumented.map(([, name]) => name)).toEqual([]);
  });
});
