// An abort must reach only the task it names (issue 17): aborts sent to tasks as they finish, while
// their slots are freed and reused at once by tasks nobody aborts, for a few seconds. Before the
// abort message named the task's generation, some of those bystanders saw ctx.signal abort.
import { AbortError, WorkerPool } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { sharedCounters, within } from '../fixtures/pool-helpers.js';

const PROBE = new URL('../fixtures/pool-abort-probe.mjs', import.meta.url);
const RUN_MS = 3000; // at least, and until MIN_BYSTANDERS ran, but never past MAX_MS
const MIN_BYSTANDERS = 500;
const MAX_MS = 15_000;
const WINDOW = 48; // tasks in flight at once, each on its own counter

let pool: WorkerPool | undefined;
afterEach(async () => {
  if (pool) await within(pool.close({ force: true }), 5000, 'close');
  pool = undefined;
});

describe('aborts and slot reuse', () => {
  it('aborting tasks as they finish never aborts a task nobody aborted', async () => {
    const counters = sharedCounters(WINDOW);
    pool = new WorkerPool({
      filename: PROBE,
      maxWorkers: 2,
      concurrentTasksPerWorker: 4,
      killGrace: 10_000, // on a loaded machine a 200 µs task can take longer than the 100 ms default to answer
      workerData: { counters },
    });
    const p = pool;
    const free = Array.from({ length: WINDOW }, (_, i) => i);
    const victims = new Map<number, AbortController>(); // counter index -> its task's controller
    const pending = new Set<Promise<void>>();
    let bystanders = 0;
    let victimsAborted = 0;
    const unrelated: unknown[] = [];
    let n = 0;
    const submit = (): void => {
      const at = free.pop() as number;
      Atomics.store(counters, at, 0);
      const victim = n % 2 === 0;
      const opts = { us: 20 + (n % 7) * 30, sync: n % 3 === 0, early: n % 4 < 2 };
      n++;
      const ac = victim ? new AbortController() : undefined;
      if (ac) victims.set(at, ac);
      else bystanders++;
      const t = p
        .submit({ at, ...opts }, ac ? { fn: 'probe', signal: ac.signal } : { fn: 'probe' })
        .then(
          () => undefined,
          (err: unknown) => {
            if (!ac) unrelated.push(err);
            else if (err instanceof AbortError) victimsAborted++;
            else unrelated.push(err);
          },
        )
        .finally(() => {
          victims.delete(at);
          free.push(at);
          pending.delete(t);
        });
      pending.add(t);
    };
    await Promise.all([0, 1].map((i) => p.submit({ at: i, us: 0, sync: true }, { fn: 'probe' }))); // workers up
    const t0 = Date.now();
    const done = (): boolean =>
      Date.now() - t0 > MAX_MS || (Date.now() - t0 > RUN_MS && bystanders >= MIN_BYSTANDERS);
    while (!done()) {
      while (free.length > 0) submit();
      // Abort every victim that has started: most are about to finish, or just have.
      for (const [at, ac] of victims) {
        if (Atomics.load(counters, at) !== 0 && !ac.signal.aborted) ac.abort();
      }
      await new Promise((r) => setImmediate(r));
    }
    await within(Promise.all(pending), 10_000, 'the last tasks');
    expect(bystanders).toBeGreaterThan(50); // enough slot reuse to matter (thousands on a quiet machine)
    expect(victimsAborted).toBeGreaterThan(0); // the aborts did reach running tasks
    expect(unrelated).toEqual([]);
  }, 40_000);
});
