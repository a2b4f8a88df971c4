// Per-stage counts stay one per try whose outcome reached the main thread (chain.ts P3-P5), in the
// paths where a try ends without its runner's verdict: a result that cannot come back, and an abort
// that lands after a batch's items finished; and an item that failed is not shown as queued.
import { Pipeline, RetryPolicy } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { PoolBag } from '../fixtures/flow-helpers.js';
import { until } from '../fixtures/pool-helpers.js';

const bag = new PoolBag();
afterEach(() => bag.closeAll());
const KILL_GRACE = { killGrace: 10_000 };
type Item = { id: number; hold?: boolean; fail?: boolean };
const items = (n: number, f: (id: number) => Partial<Item> = () => ({})): Item[] =>
  Array.from({ length: n }, (_, id) => ({ id, ...f(id) }));

describe('Pipeline counts, one per try', () => {
  it('a try that passed every stage but whose result cannot come back counts as one failure of the last stage', async () => {
    const pool = bag.make(2, KILL_GRACE);
    const letters: unknown[] = [];
    const p = new Pipeline<number>({ onDeadLetter: (d) => letters.push(d) })
      .stage('a', { pool, fn: 'echo' })
      .stage('b', { pool, fn: 'unclonable' }, { retry: new RetryPolicy({ maxAttempts: 2, initialDelay: 1 }) });
    expect(await p.processBatch([1])).toEqual([]);
    expect(letters).toHaveLength(1);
    const [, b] = p.metrics().stages;
    expect([b.done, b.failed, b.retried, b.deadLettered]).toEqual([0, 2, 1, 1]);
  });

  it('an abort counts the items a batch had finished once', async () => {
    const counters = new Int32Array(new SharedArrayBuffer(8));
    const pool = bag.make(2, { concurrentTasksPerWorker: 64, workerData: { counters }, ...KILL_GRACE });
    const ctl = new AbortController();
    const p = new Pipeline<Item>({ signal: ctl.signal }).stage('h', { pool, fn: 'holdIf' }, { concurrency: 64 });
    await p.processBatch(items(256)); // known cost: the next run goes in batches
    const run = p.processBatch(items(64, (id) => ({ hold: id === 63 }))).catch((e: unknown) => e);
    await until(() => Atomics.load(counters, 1) === 1, 20_000);
    await new Promise((r) => setTimeout(r, 100));
    ctl.abort();
    await run;
    await until(() => p.metrics().stages[0].inFlight === 0, 10_000);
    const [h] = p.metrics().stages;
    expect(h.done + h.failed).toBe(256 + 64);
  });

  it('an item that failed in a batch still running is not counted as queued', async () => {
    const counters = new Int32Array(new SharedArrayBuffer(8));
    const pool = bag.make(2, { concurrentTasksPerWorker: 64, workerData: { counters }, ...KILL_GRACE });
    const ctl = new AbortController();
    const p = new Pipeline<Item>({ signal: ctl.signal, onDeadLetter: () => {} })
      .stage('f', { pool, fn: 'failIf' }, { concurrency: 64 })
      .stage('h', { pool, fn: 'holdIf' }, { concurrency: 64 });
    await p.processBatch(items(256));
    const run = p.processBatch(items(64, (id) => ({ fail: id < 63, hold: id === 63 }))).catch((e: unknown) => e);
    await until(() => Atomics.load(counters, 1) === 1, 20_000);
    await new Promise((r) => setTimeout(r, 100));
    const [f] = p.metrics().stages;
    ctl.abort();
    await run;
    expect(f.queued).toBe(0);
  });
});
