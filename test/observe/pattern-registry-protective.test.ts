// PatternRegistry protective mode and shutdownAll: cases found by a review (helper-20), each failed on 968186a.
import { CircuitBreaker, InvalidArgumentError, PatternRegistry, Pipeline, type ProtectiveEvent, type WorkerPool } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { PoolBag } from '../fixtures/flow-helpers.js';
import { sleep, until } from '../fixtures/pool-helpers.js';

const bag = new PoolBag();
afterEach(() => bag.closeAll());
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

function setup(openBreakers: number): { r: PatternRegistry; events: ProtectiveEvent[] } {
  const r = new PatternRegistry({ protective: { openBreakers, keep: 0.5 } });
  const events: ProtectiveEvent[] = [];
  r.on('protective', (e: ProtectiveEvent) => events.push(e));
  return { r, events };
}

/** Pipeline 'pipe' with stages a and b (concurrency 8), guarded by breakers ca and cb, in a registry that turns on at one open breaker. */
function twoGuardedStages(): {
  p: Pipeline<number, number>;
  r: PatternRegistry;
  events: ProtectiveEvent[];
  ca: CircuitBreaker;
  cb: CircuitBreaker;
} {
  const run = { run: (x: number) => x };
  const p = new Pipeline<number>().stage<number>('a', run, { concurrency: 8 }).stage<number>('b', run, { concurrency: 8 });
  const { r, events } = setup(1);
  r.register(p, { name: 'pipe' });
  const ca = new CircuitBreaker();
  const cb = new CircuitBreaker();
  r.register(ca, { name: 'ca', guards: ['pipe/a'] });
  r.register(cb, { name: 'cb', guards: ['pipe/b'] });
  return { p, r, events, ca, cb };
}

/** A pool of four, registered as 'work', guarded by breaker 'cb' in a registry that turns on at one open breaker. */
async function guardedPool(opts: Record<string, unknown> = {}): Promise<{
  pool: WorkerPool;
  r: PatternRegistry;
  events: ProtectiveEvent[];
  cb: CircuitBreaker;
}> {
  const pool = bag.make(4, opts);
  await until(() => pool.getWorkerCount() === 4);
  const { r, events } = setup(1);
  r.register(pool, { name: 'work' });
  const cb = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 60_000 });
  r.register(cb, { name: 'cb', guards: ['work'] });
  return { pool, r, events, cb };
}

describe('PatternRegistry protective mode', () => {
  it('restores a guarded pool when its breaker closes before the retired workers have exited', async () => {
    const { pool, r, events, cb } = await guardedPool();
    cb.forceOpen();
    cb.forceClose();
    await until(() => events.length === 2);
    expect(events[1]).toMatchObject({ state: 'off', pools: [{ name: 'work', from: 2, to: 4 }] });
    await sleep(500);
    expect(pool.getWorkerCount()).toBe(4); // the event says 4; the pool keeps 2 for good
    r.unregister('cb');
  });

  it('a restored pool keeps its size after it goes idle (minWorkers is restored too)', async () => {
    const { pool, r, events, cb } = await guardedPool({ idleTimeout: 100 });
    cb.forceOpen();
    await until(() => pool.getWorkerCount() === 2);
    cb.forceClose();
    await until(() => events.length === 2 && pool.getWorkerCount() === 4);
    await sleep(600);
    expect(pool.getWorkerCount()).toBe(4);
    r.unregister('cb');
  });

  it('while protective mode is on, a guarded pool does not grow back under load', async () => {
    const { pool, r, cb } = await guardedPool();
    cb.forceOpen();
    await until(() => pool.getWorkerCount() === 2);
    let most = 0;
    const sample = setInterval(() => {
      most = Math.max(most, pool.getWorkerCount());
    }, 5);
    await Promise.all(range(16).map(() => pool.submit({ ms: 40 }, { fn: 'sleepy' })));
    clearInterval(sample);
    expect(most).toBe(2);
    r.unregister('cb');
  });

  it('turns on when a breaker that is already open is registered', async () => {
    const { r, events } = setup(1);
    const cb = new CircuitBreaker();
    cb.forceOpen();
    r.register(cb, { name: 'cb' });
    await sleep(400);
    expect(events.map((e) => e.state)).toEqual(['on']);
    r.unregister('cb');
  });

  it('a breaker that opens while the mode is on also gets what it guards lowered', async () => {
    const { p, r, events, ca, cb } = twoGuardedStages();
    ca.forceOpen();
    cb.forceOpen();
    await sleep(400);
    expect(events.map((e) => e.state)).toEqual(['on', 'lowered']);
    expect(events[1]).toMatchObject({ open: ['ca', 'cb'], pools: [], stages: [{ name: 'pipe/b', from: 8, to: 4 }] });
    expect(p.stageConcurrency('a').current).toBe(4);
    expect(p.stageConcurrency('b').current).toBe(4);
    r.unregister('ca');
    r.unregister('cb');
  });

  it('while the mode stays on, what a breaker guards is restored as that breaker closes, with an event', async () => {
    const { p, r, events, ca, cb } = twoGuardedStages();
    ca.forceOpen();
    cb.forceOpen();
    await until(() => events.length === 2);
    ca.forceClose(); // cb keeps the mode on; only pipe/a is no longer guarded by an open breaker
    await until(() => events.length === 3);
    expect(events[2]).toEqual({ state: 'restored', open: ['cb'], pools: [], stages: [{ name: 'pipe/a', from: 4, to: 8 }] });
    expect(p.stageConcurrency('a').current).toBe(8);
    expect(p.stageConcurrency('b').current).toBe(4);
    expect(await p.processBatch([1, 2, 3])).toEqual([1, 2, 3]);
    cb.forceClose();
    await until(() => events.length === 4);
    expect(events[3]).toEqual({ state: 'off', open: [], pools: [], stages: [{ name: 'pipe/b', from: 4, to: 8 }] });
    expect(p.stageConcurrency('b').current).toBe(8);
    r.unregister('ca');
    r.unregister('cb');
  });
});

describe('PatternRegistry.shutdownAll', () => {
  it('a bad timeout is a named error, not an instant timeout for everything', async () => {
    const r = new PatternRegistry();
    r.register({ close: () => sleep(20) }, { name: 'slow' });
    await expect(r.shutdownAll({ timeout: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

// shutdownAll closed each pipeline and pool, then unregistered it, and unregistering a lowered target
// restored it with a 'restored' event: a listener heard of a pool it had just closed being restored
// (and a closed pipeline's stage), and the pool's cap was lifted after close. Now protective mode ends
// first, with one 'off' event that restores nothing (everything is about to close), and stays off
// while shutdownAll runs.
describe('PatternRegistry.shutdownAll in protective mode', () => {
  it('no event names a target already closed; one "off" comes first, restoring nothing', async () => {
    const pool = bag.make(4);
    await until(() => pool.getWorkerCount() === 4);
    const run = { run: (x: number) => x };
    const p = new Pipeline<number>().stage<number>('a', run, { concurrency: 8 });
    const { r, events } = setup(1);
    const closed = new Set<string>();
    // Marks each target closed as shutdownAll's close() of it returns.
    for (const [name, t] of [['work', pool], ['pipe', p]] as const) {
      const close = t.close.bind(t) as (o?: unknown) => Promise<void>;
      Object.defineProperty(t, 'close', { configurable: true, value: async (o?: unknown) => (await close(o), closed.add(name)) });
    }
    const named: { state: string; names: string[]; closed: string[] }[] = [];
    r.on('protective', (e: ProtectiveEvent) =>
      named.push({ state: e.state, names: [...e.pools, ...e.stages].map((c) => c.name), closed: [...closed] }),
    );
    r.register(pool, { name: 'work' });
    r.register(p, { name: 'pipe' });
    const cb = new CircuitBreaker();
    r.register(cb, { name: 'cb', guards: ['work', 'pipe/a'] });
    cb.forceOpen();
    await until(() => events.length === 1);
    expect(events[0]).toMatchObject({ state: 'on', pools: [{ name: 'work', to: 2 }], stages: [{ name: 'pipe/a', to: 4 }] });
    const report = await r.shutdownAll({ timeout: 5000 });
    expect(report).toEqual({ closed: ['pipe', 'work', 'cb'], timedOut: [], failed: [] });
    await sleep(300); // a poll or a breaker's late stateChange would show here
    for (const n of named) {
      for (const name of n.names) expect(n.closed, `${n.state} event names ${name}`).not.toContain(name.split('/')[0]);
    }
    expect(events.map((e) => e.state)).toEqual(['on', 'off']);
    expect(events[1]).toEqual({ state: 'off', open: ['cb'], pools: [], stages: [] });
    expect(named[1].closed).toEqual([]); // said before anything closed
    // The registry works on afterwards: protective mode turns on again.
    const again = new CircuitBreaker();
    again.forceOpen();
    r.register(again, { name: 'again' });
    expect(events.map((e) => e.state)).toEqual(['on', 'off', 'on']);
    r.unregister('again');
  });
});
