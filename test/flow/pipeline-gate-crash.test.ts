// chain.ts P7: a stage whose concurrency is below its segment's runs behind a shared gate (a
// Semaphore) in the workers. A worker that died inside that stage took its permit with it, and the
// stage ran one item fewer at a time for good: at concurrency 1, every later item waited forever
// (found by review: processBatch never settled). The main thread now gives the permit back.
import { Pipeline, WorkerCrashedError } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { PoolBag } from '../fixtures/flow-helpers.js';
import { within } from '../fixtures/pool-helpers.js';

const bag = new PoolBag();
afterEach(() => bag.closeAll());

type Item = { id: number; faults?: Record<number, string> };
const items = (ids: number[], crashAt?: number): Item[] =>
  ids.map((id) => (id === crashAt ? { id, faults: { 1: 'crash' } } : { id }));

describe('a worker that dies inside a gated stage', () => {
  it('gives its permit back: the stage keeps its concurrency, later runs finish', async () => {
    const pool = bag.make(2);
    const letters: { input: Item; error: unknown }[] = [];
    const p = new Pipeline<Item>({ onDeadLetter: (l) => letters.push(l as { input: Item; error: unknown }) })
      .stage('s0', { pool, fn: 's0' }, { concurrency: 2 })
      .stage('s1', { pool, fn: 's1' }, { concurrency: 1 }); // below its segment's 2: a gate
    const first = await within(p.processBatch(items([1, 2, 3, 4], 2)), 10_000, 'the run with a crash in s1');
    expect(first).toHaveLength(3);
    expect(letters.map((l) => l.input.id)).toEqual([2]);
    expect(letters[0].error).toBeInstanceOf(WorkerCrashedError);
    // Had the permit leaked, s1 would have none left: these would wait for good.
    expect(await within(p.processBatch(items([5, 6, 7, 8])), 10_000, 'a later run')).toHaveLength(4);
    const s1 = p.metrics().stages[1];
    expect([s1.inFlight, s1.queued, s1.done, s1.failed]).toEqual([0, 0, 7, 1]);
  });

  it('a crash in each of several runs leaves the gate whole', async () => {
    const pool = bag.make(2);
    const p = new Pipeline<Item>({ onDeadLetter: () => {} })
      .stage('s0', { pool, fn: 's0' }, { concurrency: 4 })
      .stage('s1', { pool, fn: 's1' }, { concurrency: 2 });
    for (let r = 0; r < 3; r++) {
      const ids = [1, 2, 3, 4, 5, 6].map((i) => r * 10 + i);
      const out = await within(p.processBatch(items(ids, ids[2])), 10_000, `run ${r}`);
      expect(out).toHaveLength(5);
    }
    expect(p.metrics().stages[1].inFlight).toBe(0);
  });
});
