// pool.map on a pool with a maxQueue waits for queue room before each input. That wait must end
// when the pool closes or the map's signal aborts: it waited only for the queue to read not full,
// which a forced close never gives (the stopped workers' counts stay as they were), so the map's
// `for await` hung for ever; and a running task that ignores its signal held an aborted map until
// it finished. One worker and maxQueue 0: the second input always waits while the first runs.
//
// Each test attaches its handler to the map's promise before it closes the pool: a forced close
// rejects the map during the close, and a promise left without a handler across `await close()`
// is an unhandled rejection (vitest reports it) as a submit's promise left so would be.
import { AbortError, PoolClosedError, WorkerPool } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { rejection, sleep, TASKS, until, within } from '../fixtures/pool-helpers.js';

let pool: WorkerPool | undefined;
afterEach(async () => {
  await pool?.close({ force: true });
  pool = undefined;
});

function onePlace(killGrace?: number): WorkerPool {
  pool = new WorkerPool({ filename: TASKS, minWorkers: 1, maxWorkers: 1, maxQueue: 0, killGrace });
  return pool;
}

/** Drains `it` into `out`; resolves to 'done' or rejects with the map's error. */
async function drain(it: AsyncIterable<unknown>, out: unknown[] = []): Promise<'done'> {
  for await (const v of it) out.push(v);
  return 'done';
}

/** A sync input that counts what the map pulled from it. */
function* counted(values: unknown[], pulled: { n: number }): Generator<unknown> {
  for (const v of values) {
    pulled.n++;
    yield v;
  }
}

/**
 * The map is waiting for room: its first task runs, and its second input is pulled and held.
 * Resolves to how many inputs it pulled (2). A task claimed by the worker and not yet started once
 * counted nowhere, so a second task got in about 1 run in 3 under the full suite (claim C4; see
 * test/faults/pool-claim-counted.test.ts). Read once the first task counts as running.
 */
async function waitingForRoom(p: WorkerPool, pulled: { n: number }): Promise<number> {
  await until(() => pulled.n >= 2 && p.metrics().busy === 1, 15_000, 'the map waits for room');
  await sleep(30);
  const n = pulled.n;
  await sleep(20);
  expect(pulled.n).toBe(n); // it is held: nothing more is pulled while no room comes
  expect(n).toBe(2);
  return n;
}

describe('pool.map waiting for queue room (maxQueue)', () => {
  for (const ordered of [true, false]) {
    it(`rejects with PoolClosedError when the pool is closed with force (ordered: ${ordered})`, async () => {
      const p = onePlace();
      const pulled = { n: 0 };
      const out: unknown[] = [];
      const run = rejection(drain(p.map(counted([5000, 5000, 5000, 5000], pulled), { fn: 'sleep', ordered }), out));
      const held = await waitingForRoom(p, pulled);
      await within(p.close({ force: true }), 5000, 'the forced close');
      // As a submit's task sees: the first input's task was running and was rejected by the close.
      const err = await within(run, 5000, "the map's rejection");
      expect(err).toBeInstanceOf(PoolClosedError);
      expect(err.message).toMatch(/closed with force/);
      expect(out).toEqual([]);
      expect(pulled.n).toBe(held); // nothing pulled after the close
    });
  }

  it('rejects at a forced close while its input has nothing more to give', async () => {
    // A map over a stream that went quiet: it must not wait for more input to report the close.
    const p = onePlace();
    let pulled = 0;
    async function* quiet(): AsyncGenerator<number> {
      for (const ms of [5000, 5000, 5000]) {
        pulled++;
        yield ms;
      }
      await new Promise(() => {}); // never another input
    }
    const run = rejection(drain(p.map(quiet(), { fn: 'sleep' })));
    await until(() => pulled === 2 && !p.isIdle(), 15_000, 'the map waits for room');
    await sleep(30);
    await within(p.close({ force: true }), 5000, 'the forced close');
    expect(await within(run, 5000, "the map's rejection")).toBeInstanceOf(PoolClosedError);
    expect(pulled).toBe(2);
  });

  it('rejects with PoolClosedError when the pool is closed with force while only others fill it', async () => {
    const p = onePlace();
    const busy = rejection(p.submit(5000, { fn: 'sleep' }));
    await until(() => !p.isIdle() && p.getQueueLength() === 0, 15_000, 'the task runs');
    const run = rejection(drain(p.map([1, 2], { fn: 'sleep' })));
    await sleep(50);
    await within(p.close({ force: true }), 5000, 'the forced close');
    expect(await within(busy, 5000, "the submit's rejection")).toBeInstanceOf(PoolClosedError);
    // Its input never reached the pool: it fails as a submit to a closed pool does.
    const err = await within(run, 5000, "the map's rejection");
    expect(err).toBeInstanceOf(PoolClosedError);
    expect(err.message).toMatch(/the pool is closed/);
  });

  it('a graceful close lets the task already running finish, then rejects with PoolClosedError', async () => {
    const p = onePlace();
    const pulled = { n: 0 };
    const out: unknown[] = [];
    // 1000 ms tasks: the first still runs through waitingForRoom's checks however slow the machine.
    const run = rejection(drain(p.map(counted([1000, 1000, 1000, 1000], pulled), { fn: 'sleep' }), out));
    const held = await waitingForRoom(p, pulled);
    const closed = p.close();
    const err = await within(run, 5000, "the map's rejection");
    expect(err).toBeInstanceOf(PoolClosedError);
    // The outputs of the tasks it had in the pool, in order, then the error.
    expect(out).toEqual(Array.from({ length: held - 1 }, () => 1000));
    expect(pulled.n).toBe(held);
    await within(closed, 5000, 'the graceful close');
  });

  it("the map's signal ends the wait with AbortError though the running task cannot see it", async () => {
    // spin holds its worker's thread: the abort cannot reach it, so no room comes until it ends or
    // its worker is killed, killGrace after the abort (the 100 ms default, 10 s here).
    const p = onePlace(10_000);
    const pulled = { n: 0 };
    const ac = new AbortController();
    const run = rejection(drain(p.map(counted([20_000, 20_000, 20_000], pulled), { fn: 'spin', signal: ac.signal })));
    const held = await waitingForRoom(p, pulled);
    ac.abort();
    expect(await within(run, 5000, "the map's rejection")).toBeInstanceOf(AbortError);
    expect(pulled.n).toBe(held);
  });

  it('a map that gets room runs to its end (the wait ends on room, not only on close)', async () => {
    const p = onePlace();
    const out: unknown[] = [];
    await within(drain(p.map([20, 10, 30, 5], { fn: 'sleep' }), out), 5000, 'the map');
    expect(out).toEqual([20, 10, 30, 5]);
  });
});
