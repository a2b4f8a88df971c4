// A running task that times out (or is aborted) and does not give up gets its worker terminated at
// the end of the kill grace (sweep.ts). Tasks that worker started meanwhile had nothing to do with
// it: they must not die with it. The worker claims nothing new while such a task runs
// (worker-context.ts TaskControls.detached); a task that does give up lets it claim again.
import { WorkerPool } from 'skein';
import { afterEach, expect, it } from 'vitest';
import { TASKS, within } from '../fixtures/pool-helpers.js';

const GATED = new URL('../fixtures/pool-step-gate.mjs', import.meta.url);

let pool: WorkerPool | undefined;
afterEach(async () => {
  if (pool) await within(pool.close({ force: true }), 5000, 'close');
  pool = undefined;
});

it('a task submitted after a timed-out task that ignores its signal runs, not killed with that worker', async () => {
  // One worker that runs two tasks at once: before, `later` started beside the stuck task at once
  // and was failed with WorkerCrashedError when the kill grace ended.
  const p = (pool = new WorkerPool({ filename: GATED, maxWorkers: 1, concurrentTasksPerWorker: 2, killGrace: 300 }));
  expect(await p.submit(1, { fn: 'double' })).toBe(2);
  const stuck = p.submit(100_000, { fn: 'nap', timeout: 50 }).then(
    () => 'resolved',
    (e: Error) => e.name,
  );
  expect(await within(stuck, 5000, 'the timeout')).toBe('TimeoutError');
  const later = p.submit(600, { fn: 'nap' });
  expect(await within(later, 10_000, 'the task after the timeout')).toBe(600);
  expect(p.metrics()).toMatchObject({ inFlight: 0 });
});

it('a worker whose aborted task gives up in time goes on claiming (it is not replaced)', async () => {
  const p = (pool = new WorkerPool({ filename: TASKS, maxWorkers: 1, concurrentTasksPerWorker: 2 }));
  const id = await p.submit(0, { fn: 'whoami' });
  const ac = new AbortController();
  const gives = p.submit(100_000, { fn: 'sleep', signal: ac.signal }).then(
    () => 'resolved',
    (e: Error) => e.name,
  );
  ac.abort();
  expect(await within(gives, 5000, 'the abort')).toBe('AbortError');
  const after = await within(Promise.all([1, 2, 3].map(() => p.submit(0, { fn: 'whoami' }))), 5000, 'tasks after');
  expect(after).toEqual([id, id, id]);
});
