// Workers terminated at random points (timed-out tasks that ignore their signal, killGrace 1 ms)
// while others claim big tasks from the same ring: every task still settles and the pool drains.
import { WorkerPool } from 'skein';
import { expect, it } from 'vitest';
import { sharedCounters, sleep, TASKS, within } from '../fixtures/pool-helpers.js';

it('tasks survive workers killed mid-claim: all settle, drain() resolves, the rings keep flowing', async () => {
  const counters = sharedCounters(4);
  const pool = new WorkerPool({
    filename: TASKS,
    maxWorkers: 1,
    concurrentTasksPerWorker: 4,
    killGrace: 1,
    workerData: { counters },
  });
  // Big inputs make each claim long (decoding), so kills often land inside one.
  const big = Array.from({ length: 6000 }, (_, i) => ({ a: i, b: 'xxxxxxxxxx', c: [i, i + 1] }));
  const outstanding = new Map<number, number>();
  let next = 0;
  let settled = 0;
  const track = (p: Promise<unknown>): Promise<unknown> => {
    const k = next++;
    outstanding.set(k, Date.now());
    return p.then(
      () => undefined,
      () => undefined,
    ).finally(() => {
      outstanding.delete(k);
      settled++;
    });
  };
  let stop = false;
  const echoes = async (): Promise<void> => {
    while (!stop) await track(pool.submit(big));
  };
  const killer = async (): Promise<void> => {
    while (!stop) {
      // Times out after 2-10 ms and ignores its signal: its worker is terminated wherever it is.
      await track(pool.submit({ id: 1, ms: 100_000 }, { fn: 'markThenSleep', timeout: 2 + Math.random() * 8 }));
      await sleep(15 + Math.random() * 15);
    }
  };
  const loops = [echoes(), echoes(), echoes(), killer()];
  const end = Date.now() + 3000;
  let oldest = 0;
  while (Date.now() < end) {
    await sleep(100);
    for (const at of outstanding.values()) oldest = Math.max(oldest, Date.now() - at);
  }
  stop = true;
  // 15 s here and below: a kill can be the last event, so these waits may include a worker's boot,
  // seconds on a loaded machine. A task lost in a dead claim never settles, however long we wait.
  await within(Promise.all(loops), 15_000, 'the last tasks');
  // A task lost inside a dead worker's claim never settles; a stalled ring keeps its whole priority.
  expect(oldest).toBeLessThan(2500);
  expect(settled).toBe(next);
  await within(pool.drain(), 15_000, 'drain');
  expect(await within(pool.submit(7), 15_000, 'a task after the kills')).toBe(7);
  expect(pool.metrics().inFlight).toBe(0);
  await within(pool.close(), 3000, 'close');
}, 60_000);
