// PatternRegistry: names, global metrics, shutdown in dependency order with a timeout report, and
// protective mode shrinking the pools that open breakers guard (and restoring them), with events.
import { CircuitBreaker, InvalidArgumentError, PatternRegistry, Pipeline, type ProtectiveEvent, TokenBucket } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { PoolBag } from '../fixtures/flow-helpers.js';
import { until } from '../fixtures/pool-helpers.js';

const bag = new PoolBag();
afterEach(() => bag.closeAll());

describe('PatternRegistry', () => {
  it('registers by name, lists, reports metrics and shuts down pipelines, then pools, then policies', async () => {
    const pool = bag.make(1);
    const p = new Pipeline<number>().stage<number>('inc', { pool, fn: 'inc' });
    await p.processBatch([1, 2, 3]);
    const r = new PatternRegistry();
    r.register(pool, { name: 'pool' });
    r.register(p, { name: 'pipe' });
    const auto = r.register(new TokenBucket({ capacity: 5, refillPerSecond: 1 }));
    r.register(new CircuitBreaker(), { name: 'cb' });
    expect(auto).toBe('limiter-1');
    expect(() => r.register(pool, { name: 'pool' })).toThrow(InvalidArgumentError);
    expect(r.list()).toEqual([
      { name: 'pool', kind: 'pool' },
      { name: 'pipe', kind: 'pipeline' },
      { name: 'limiter-1', kind: 'limiter' },
      { name: 'cb', kind: 'breaker' },
    ]);
    expect(r.get('pool')).toBe(pool);
    const m = r.getGlobalMetrics();
    expect((m.pipe.metrics as { stages: { done: number }[] }).stages[0].done).toBe(3);
    expect((m.pool.metrics as { completed: number }).completed).toBeGreaterThanOrEqual(3);
    expect((m['limiter-1'].metrics as { available: number }).available).toBeGreaterThan(4);
    r.register({ close: () => new Promise(() => {}) }, { name: 'stuck' });
    const report = await r.shutdownAll({ timeout: 200 });
    expect(report.timedOut).toEqual(['stuck']);
    expect(report.closed.sort()).toEqual(['cb', 'limiter-1', 'pipe', 'pool']);
    expect(r.list()).toEqual([{ name: 'stuck', kind: 'other' }]);
    await expect(pool.submit(1, { fn: 'inc' })).rejects.toThrow();
  });

  it('protective mode shrinks guarded pools while enough breakers are open, and restores them', async () => {
    const pool = bag.make(4);
    const r = new PatternRegistry({ protective: { openBreakers: 2, keep: 0.5 } });
    const events: ProtectiveEvent[] = [];
    r.on('protective', (e: ProtectiveEvent) => events.push(e));
    r.register(pool, { name: 'work' });
    const a = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 60_000 });
    const b = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 60_000 });
    r.register(a, { name: 'a', guards: ['work'] });
    r.register(b, { name: 'b', guards: ['work'] });
    a.forceOpen();
    await new Promise((res) => setTimeout(res, 20));
    expect(events).toEqual([]); // one open breaker is not enough
    b.forceOpen();
    await until(() => events.length === 1);
    expect(events[0]).toEqual({ state: 'on', open: ['a', 'b'], pools: [{ name: 'work', from: 4, to: 2 }] });
    await until(() => pool.getWorkerCount() === 2);
    a.forceClose();
    await until(() => events.length === 2);
    expect(events[1].state).toBe('off');
    await until(() => pool.getWorkerCount() === 4);
    r.unregister('a');
    r.unregister('b');
  });
});
