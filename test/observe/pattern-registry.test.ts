// PatternRegistry: names, global metrics, shutdown in dependency order with a timeout report, and
// protective mode shrinking the pools that open breakers guard (and restoring them), with events.
import { CircuitBreaker, DynamicWorkerPool, InvalidArgumentError, PatternRegistry, Pipeline, type ProtectiveEvent, TokenBucket } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { concurrencyProbe, FLOW_TASKS, PoolBag } from '../fixtures/flow-helpers.js';
import { sleep, until } from '../fixtures/pool-helpers.js';

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
    // The pool ran the pipeline's three items: a task each, or fewer once they went in batches
    // (the first goes alone, while the stage's cost is unknown).
    const completed = (m.pool.metrics as { completed: number }).completed;
    expect(completed).toBeGreaterThanOrEqual(2);
    expect(completed).toBeLessThanOrEqual(3);
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
    expect(events[0]).toEqual({ state: 'on', open: ['a', 'b'], pools: [{ name: 'work', from: 4, to: 2 }], stages: [] });
    await until(() => pool.getWorkerCount() === 2);
    a.forceClose();
    await until(() => events.length === 2);
    expect(events[1].state).toBe('off');
    await until(() => pool.getWorkerCount() === 4);
    r.unregister('a');
    r.unregister('b');
  });

  it('protective mode lowers the concurrency of guarded pipeline stages, and restores it', async () => {
    const pool = bag.make(2);
    const probe = concurrencyProbe();
    const p = new Pipeline<number>()
      .stage<number>('call', { run: probe.run }, { concurrency: 8 })
      .stage<number>('inc', { pool, fn: 'inc' }, { concurrency: 8 });
    const r = new PatternRegistry({ protective: { openBreakers: 1, keep: 0.25 } });
    const events: ProtectiveEvent[] = [];
    r.on('protective', (e: ProtectiveEvent) => events.push(e));
    r.register(p, { name: 'pipe' });
    const cb = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 60_000 });
    r.register(cb, { name: 'cb', guards: ['pipe/call', 'pipe/inc'] });
    const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

    expect(await p.processBatch(range(64))).toEqual(range(64).map((i) => i + 1));
    expect(probe.most()).toBe(8); // the stage ran at its full concurrency

    cb.forceOpen();
    await until(() => events.length === 1);
    expect(events[0].stages).toEqual([
      { name: 'pipe/call', from: 8, to: 2 },
      { name: 'pipe/inc', from: 8, to: 2 },
    ]);
    expect(p.stageConcurrency('call')).toEqual({ configured: 8, current: 2 });
    probe.reset();
    expect(await p.processBatch(range(64))).toEqual(range(64).map((i) => i + 1));
    expect(probe.most()).toBe(2); // throttled, and nothing lost
    expect(p.metrics().stages[1].done).toBe(128);

    cb.forceClose();
    await until(() => events.length === 2);
    expect(events[1]).toMatchObject({ state: 'off', stages: [{ name: 'pipe/call', from: 2, to: 8 }, { name: 'pipe/inc', from: 2, to: 8 }] });
    probe.reset();
    await p.processBatch(range(64));
    expect(probe.most()).toBe(8);
    expect(() => p.setStageConcurrency('nope', 1)).toThrow(InvalidArgumentError);
    expect(() => p.setStageConcurrency('call', 0)).toThrow(InvalidArgumentError);
    r.unregister('cb');
  });

  it('protective mode caps a dynamic pool at keep x maxWorkers; unregistering it lifts the cap', async () => {
    const pool = new DynamicWorkerPool({ filename: FLOW_TASKS, maxWorkers: 4 });
    bag.pools.push(pool);
    const r = new PatternRegistry({ protective: { openBreakers: 1, keep: 0.5 } });
    const events: ProtectiveEvent[] = [];
    r.on('protective', (e: ProtectiveEvent) => events.push(e));
    r.register(pool, { name: 'work' });
    const cb = new CircuitBreaker();
    r.register(cb, { name: 'cb', guards: ['work'] });
    cb.forceOpen();
    expect(events[0]).toMatchObject({ state: 'on', pools: [{ name: 'work', from: 0, to: 0 }] }); // none to retire
    const load = (): Promise<unknown[]> => Promise.all(Array.from({ length: 16 }, () => pool.submit({ ms: 30 }, { fn: 'sleepy' })));
    await load();
    expect(pool.metrics().peakWorkers).toBe(2);
    r.unregister('work'); // the registry lets go of it: no cap any more
    expect(events[1]).toMatchObject({ state: 'restored', pools: [{ name: 'work' }] });
    await load();
    expect(pool.metrics().peakWorkers).toBe(4);
    cb.forceClose();
    await until(() => events.length === 3);
    expect(events[2]).toMatchObject({ state: 'off', pools: [] });
    r.unregister('cb');
  });
});

describe('PatternRegistry.shutdownAll timeout', () => {
  it('Infinity waits for every close; a bad value is a named error', async () => {
    const r = new PatternRegistry();
    r.register({ close: () => sleep(30) }, { name: 'slow' });
    await expect(r.shutdownAll({ timeout: Number.NaN })).rejects.toThrow(InvalidArgumentError);
    expect(await r.shutdownAll({ timeout: Infinity })).toEqual({ closed: ['slow'], timedOut: [], failed: [] });
  });
});
