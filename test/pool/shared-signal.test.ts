// One AbortSignal shared by a whole batch (issue 15): one listener per signal however many tasks
// watch it, none left once they settle, and an abort still reaches every task that watches it.
import { getEventListeners } from 'node:events';
import { AbortError, TimeoutError, WorkerPool } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { rejection, sharedCounters, TASKS, until, within } from '../fixtures/pool-helpers.js';

let pool: WorkerPool | undefined;
afterEach(async () => {
  if (pool) await within(pool.close({ force: true }), 5000, 'close');
  pool = undefined;
});

function make(opts: Partial<ConstructorParameters<typeof WorkerPool>[0]> = {}): {
  pool: WorkerPool;
  counters: Int32Array;
} {
  const counters = sharedCounters(128);
  pool = new WorkerPool({ filename: TASKS, maxWorkers: 2, workerData: { counters }, ...opts });
  return { pool, counters };
}

const listeners = (s: AbortSignal): number => getEventListeners(s, 'abort').length;

describe('one AbortSignal shared by many tasks', () => {
  it('holds one listener while tasks watch it and none once they settle with values or errors', async () => {
    const { pool } = make();
    const ac = new AbortController();
    const ok = Array.from({ length: 300 }, (_, i) => pool.submit(i, { fn: 'double', signal: ac.signal }));
    const bad = Array.from({ length: 100 }, () => rejection(pool.submit('no', { fn: 'fail', signal: ac.signal })));
    expect(listeners(ac.signal)).toBe(1);
    expect(await Promise.all(ok)).toEqual(Array.from({ length: 300 }, (_, i) => 2 * i));
    for (const err of await Promise.all(bad)) expect(err.name).toBe('ValidationError');
    expect(listeners(ac.signal)).toBe(0);
    // The signal can be used again by a later batch.
    expect(await pool.submit(4, { fn: 'double', signal: ac.signal })).toBe(8);
    expect(listeners(ac.signal)).toBe(0);
  });

  it('keeps no listener after tasks settle by timeout', async () => {
    const { pool, counters } = make({ maxWorkers: 1 });
    const ac = new AbortController();
    const timed = [1, 2, 3].map((id) =>
      rejection(pool.submit({ id, ms: 5000 }, { fn: 'waitForAbort', signal: ac.signal, timeout: 50 })),
    );
    for (const err of await within(Promise.all(timed), 5000, 'timeouts')) expect(err).toBeInstanceOf(TimeoutError);
    // Each timed-out task ran and saw its own ctx.signal abort (the timeout's, not the shared one).
    await until(() => [1, 2, 3].every((id) => counters[id] === 2), 10_000);
    expect(listeners(ac.signal)).toBe(0);
  });

  it('keeps no listener after a force close rejects running and queued tasks', async () => {
    const { pool, counters } = make({ maxWorkers: 1 });
    const ac = new AbortController();
    const running = rejection(pool.submit({ at: 10 }, { fn: 'hold', signal: ac.signal }));
    await until(() => counters[11] === 1, 5000);
    const queued = Array.from({ length: 50 }, (_, i) =>
      rejection(pool.submit(40 + i, { fn: 'mark', signal: ac.signal })),
    );
    expect(listeners(ac.signal)).toBe(1);
    await within(pool.close({ force: true }), 5000, 'force close');
    Atomics.store(counters, 10, 1);
    expect((await running).name).toBe('PoolClosedError');
    for (const err of await Promise.all(queued)) expect(err.name).toBe('PoolClosedError');
    expect(listeners(ac.signal)).toBe(0);
    expect([...counters.subarray(40, 90)].every((c) => c === 0)).toBe(true);
  });

  it('an abort reaches every task at once: queued ones never run, running ones see ctx.signal', async () => {
    const { pool, counters } = make();
    await Promise.all([pool.submit(0), pool.submit(0)]); // both workers up
    const ac = new AbortController();
    const reason = new Error('user pressed Ctrl-C');
    const running = [1, 2].map((id) =>
      rejection(pool.submit({ id, ms: 10_000 }, { fn: 'waitForAbort', signal: ac.signal })),
    );
    await until(() => counters[1] === 1 && counters[2] === 1, 5000);
    const queued = Array.from({ length: 60 }, (_, i) =>
      rejection(pool.submit(40 + i, { fn: 'mark', signal: ac.signal })),
    );
    const bystander = pool.submit(21, { fn: 'double' });
    ac.abort(reason);
    const errs = await within(Promise.all([...running, ...queued]), 1000, 'every aborted task');
    for (const err of errs) {
      expect(err).toBeInstanceOf(AbortError);
      expect(err.cause).toBe(reason);
    }
    await until(() => counters[1] === 2 && counters[2] === 2, 2000, "both running tasks saw ctx.signal abort");
    expect(await bystander).toBe(42);
    expect([...counters.subarray(40, 100)].every((c) => c === 0)).toBe(true);
    expect(listeners(ac.signal)).toBe(0);
  });

  it('100k tasks on one signal print no MaxListenersExceededWarning and leave no listener', async () => {
    const { pool } = make();
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      const ac = new AbortController();
      const all: Promise<unknown>[] = [];
      for (let i = 0; i < 100_000; i++) all.push(pool.submit(i, { signal: ac.signal }));
      expect(listeners(ac.signal)).toBe(1);
      const out = await within(Promise.all(all), 60_000, '100k tasks');
      expect(out[99_999]).toBe(99_999);
      expect(listeners(ac.signal)).toBe(0);
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  }, 90_000);
});
