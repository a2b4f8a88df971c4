// A stage's policies when stages fuse in the workers: per-stage concurrency holds across workers
// (a stage allowed fewer than its neighbour gets a shared gate), a breaker opened in one worker is
// open in every worker, retries are counted, and a timeout ends a stuck try.
import { BrokenCircuitError, CircuitBreaker, Pipeline, RetryPolicy, TimeoutError, type DeadLetter } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { PoolBag } from '../fixtures/flow-helpers.js';

const bag = new PoolBag();
afterEach(() => bag.closeAll());
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('Pipeline policies in fused stages', () => {
  it('never runs a stage above its concurrency, fused or on the main thread', async () => {
    const gauges = new Int32Array(new SharedArrayBuffer(16));
    const pool = bag.make(2, { concurrentTasksPerWorker: 4, workerData: { gauges } });
    let now = 0;
    let most = 0;
    const p = new Pipeline<number>()
      .stage<number>('wide', { pool, fn: 'gauge0' }, { concurrency: 5 })
      .stage<number>('narrow', { pool, fn: 'gauge1' }, { concurrency: 2 })
      .stage('main', {
        run: async (x: number) => {
          most = Math.max(most, ++now);
          await new Promise((r) => setTimeout(r, 2));
          now--;
          return x;
        },
      }, { concurrency: 3 });
    expect(await p.processBatch(range(150))).toEqual(range(150));
    expect(Atomics.load(gauges, 1)).toBeLessThanOrEqual(5);
    expect(Atomics.load(gauges, 1)).toBeGreaterThan(2); // the wide stage did run items side by side
    expect(Atomics.load(gauges, 3)).toBeLessThanOrEqual(2);
    expect(Atomics.load(gauges, 3)).toBe(2);
    expect(most).toBeLessThanOrEqual(3);
    expect(p.metrics().stages.map((s) => s.fused)).toEqual([true, true, false]);
  });

  it('a breaker opened by a stage in one worker is open for that stage in every worker', async () => {
    const pool = bag.make(2);
    const breaker = new CircuitBreaker({ failureThreshold: 3, resetTimeout: 60_000 });
    const letters: DeadLetter[] = [];
    const p = new Pipeline<number>({ onDeadLetter: (d) => letters.push(d) })
      .stage<number>('inc', { pool, fn: 'inc' })
      .stage<number>('even', { pool, fn: 'failIfOdd' }, { breaker, concurrency: 1 });
    // Odd after inc: even inputs fail, three in a row open the breaker.
    await p.processBatch([0, 2, 4]);
    expect(breaker.state).toBe('open');
    // Tasks each worker has taken (done or failed: a batch of refused items is one task that succeeds).
    const taken = (): number[] => pool.getHealthStatus().map((h) => h.tasksDone + h.tasksFailed);
    const before = taken();
    // Inputs that would pass now meet the open breaker, whichever worker takes them: every one of
    // them is refused (below), so a worker that took any saw the breaker open. One spinning worker
    // may take a whole batch of instant tasks, so batches go on (bounded) until both workers have
    // taken some: only then does the test say anything about every worker.
    let rounds = 0;
    let after = before;
    do {
      const out = await p.processBatch(range(40).map((i) => 2 * i + 1));
      expect(out).toEqual([]);
      rounds++;
      after = taken();
    } while (!after.every((n, i) => n > before[i]) && rounds < 25);
    expect(letters).toHaveLength(3 + 40 * rounds);
    for (const d of letters.slice(3)) {
      expect(d.stage).toBe('even');
      expect(d.error).toBeInstanceOf(BrokenCircuitError);
    }
    expect(after.every((n, i) => n > before[i])).toBe(true); // both workers took (and refused) some
    expect(p.metrics().stages[0].done).toBe(3 + 40 * rounds); // the stage before the breaker ran each input once
  });

  it('retries a fused stage from that stage, and a timeout ends a stuck try', async () => {
    const tries = new Int32Array(new SharedArrayBuffer(4 * 8 * 65536));
    const pool = bag.make(2, { workerData: { tries } });
    const letters: DeadLetter[] = [];
    const p = new Pipeline<{ id: number; faults: Record<number, unknown> }>({ onDeadLetter: (d) => letters.push(d) })
      .stage('s0', { pool, fn: 's0' })
      .stage('s1', { pool, fn: 's1' }, { retry: new RetryPolicy({ maxAttempts: 3, initialDelay: 1 }), timeout: 200 })
      .stage('s2', { pool, fn: 's2' });
    const out = await p.processBatch([
      { id: 9001, faults: {} },
      { id: 9002, faults: { 1: { times: 2, fault: 'throw' } } },
      { id: 9003, faults: { 1: 'hang' } },
    ]);
    expect((out as { id: number }[]).map((o) => o.id)).toEqual([9001, 9002]);
    expect(letters).toHaveLength(1);
    expect(letters[0].stage).toBe('s1');
    expect(letters[0].attempts).toBe(3);
    expect(letters[0].error).toBeInstanceOf(TimeoutError);
    const m = p.metrics().stages;
    expect(m[0].done).toBe(3); // s0 ran once per input: retries resumed at s1
    expect(m[1].retried).toBe(4);
    expect(m[1].failed).toBe(5);
    expect(m[2].done).toBe(2);
  });
});
