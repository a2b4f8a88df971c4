// Property test against a simple model: random submits (functions, priorities, inputs) with
// random aborts. Every task settles exactly once; values match the model; an aborted task
// rejects AbortError, or resolves with its value if it had already run; the counters add up.
import fc from 'fast-check';
import { AbortError, InvalidArgumentError, WorkerPool } from 'skein';
import { afterAll, expect, it } from 'vitest';
import { TASKS, until, within } from '../fixtures/pool-helpers.js';

// The default killGrace: with it this property once found the stale kill-deadline bug, now pinned
// down in abort-timeout.test.ts ("a second abort on a worker gets its own kill grace").
const pool = new WorkerPool({
  filename: TASKS,
  maxWorkers: 2,
  concurrentTasksPerWorker: 2,
});
afterAll(() => pool.close({ force: true }));

type Fn = 'echo' | 'double' | 'fail' | 'sleep' | 'spin';
type Abort = 'none' | 'before' | 'sync' | 'later';
interface Cmd {
  fn: Fn;
  x: number;
  priority: number;
  abort: Abort;
  abortAfter: number;
}

const cmd: fc.Arbitrary<Cmd> = fc.record({
  fn: fc.constantFrom<Fn>('echo', 'double', 'fail', 'sleep', 'spin'),
  x: fc.integer({ min: 0, max: 12 }),
  // Mostly valid priorities, sometimes an invalid one (must be InvalidArgumentError).
  priority: fc.oneof(
    { weight: 9, arbitrary: fc.integer({ min: 1, max: 10 }) },
    { weight: 1, arbitrary: fc.constantFrom(0, 11) },
  ),
  abort: fc.constantFrom<Abort>('none', 'none', 'before', 'sync', 'later'),
  abortAfter: fc.integer({ min: 0, max: 15 }),
});

/** The model: what the task returns when it runs to the end. */
function expected(c: Cmd): { ok: true; value: number } | { ok: false; name: string } {
  switch (c.fn) {
    case 'echo':
    case 'sleep':
    case 'spin':
      return { ok: true, value: c.x };
    case 'double':
      return { ok: true, value: c.x * 2 };
    case 'fail':
      return { ok: false, name: 'ValidationError' };
  }
}

it('random submits with priorities and aborts: each settles once, as the model says', {
  timeout: 60_000,
}, async () => {
  await pool.submit(0);
  await fc.assert(
    fc.asyncProperty(fc.array(cmd, { minLength: 1, maxLength: 40 }), async (cmds) => {
      const m0 = pool.metrics();
      const settles = new Array<number>(cmds.length).fill(0);
      const outcomes: { ok: boolean; value?: unknown; err?: Error }[] = new Array(cmds.length);
      const timers: ReturnType<typeof setTimeout>[] = [];
      const all = cmds.map((c, i) => {
        const ac = new AbortController();
        if (c.abort === 'before') ac.abort();
        const input = c.fn === 'fail' ? String(c.x) : c.x;
        const p = pool.submit(input, {
          fn: c.fn === 'echo' ? undefined : c.fn,
          priority: c.priority,
          signal: c.abort === 'none' ? undefined : ac.signal,
        });
        if (c.abort === 'sync') ac.abort();
        if (c.abort === 'later') timers.push(setTimeout(() => ac.abort(), c.abortAfter));
        return p.then(
          (value) => {
            settles[i]++;
            outcomes[i] = { ok: true, value };
          },
          (err: Error) => {
            settles[i]++;
            outcomes[i] = { ok: false, err };
          },
        );
      });
      await within(Promise.all(all), 10_000, 'every task');
      for (const t of timers) clearTimeout(t);
      expect(settles.every((n) => n === 1)).toBe(true);
      let atSubmit = 0;
      let resolved = 0;
      cmds.forEach((c, i) => {
        const o = outcomes[i];
        const want = expected(c);
        const label = `task ${i} ${JSON.stringify(c)}`;
        if (c.priority < 1 || c.priority > 10) {
          expect(o.err, label).toBeInstanceOf(InvalidArgumentError);
          atSubmit++;
          return;
        }
        if (c.abort === 'before') {
          expect(o.err, label).toBeInstanceOf(AbortError);
          atSubmit++;
          return;
        }
        if (!o.ok && o.err instanceof AbortError && c.abort !== 'none') return; // aborted in time
        if (want.ok) {
          expect(o, label).toEqual({ ok: true, value: want.value });
          resolved++;
        } else {
          expect(o.ok, label).toBe(false);
          expect(o.err?.name, label).toBe(want.name);
        }
      });
      const m1 = pool.metrics();
      expect(m1.completed - m0.completed).toBe(resolved);
      expect(m1.completed - m0.completed + (m1.failed - m0.failed)).toBe(cmds.length - atSubmit);
      // Skipped (cancelled) tasks leave no slot behind.
      await until(() => pool.isIdle() && pool.metrics().inFlight === 0, 10_000);
    }),
    { numRuns: 100 },
  );
});

it('a blocked worker runs random queued tasks highest priority first, FIFO within one', {
  timeout: 60_000,
}, async () => {
  const counters = new Int32Array(new SharedArrayBuffer(4 * 64));
  const one = new WorkerPool({ filename: TASKS, maxWorkers: 1, workerData: { counters } });
  try {
    await one.submit(0);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 40 }),
        async (prios) => {
          // Hold the only worker (counters[60] is the gate, counters[61] says it started).
          Atomics.store(counters, 60, 0);
          Atomics.store(counters, 61, 0);
          const blocker = one.submit({ at: 60 }, { fn: 'hold' });
          await until(() => Atomics.load(counters, 61) === 1, 10_000);
          const seqs = prios.map((priority, i) => one.submit<number>(i, { fn: 'order', priority }));
          await new Promise((r) => setImmediate(r)); // let the burst publish
          Atomics.store(counters, 60, 1);
          Atomics.notify(counters, 60);
          expect(await blocker).toBe('released');
          const ran = await within(Promise.all(seqs), 5000, 'ordered tasks');
          const byRun = prios.map((_, i) => i).sort((a, b) => ran[a] - ran[b]);
          const model = prios.map((_, i) => i).sort((a, b) => prios[b] - prios[a] || a - b);
          expect(byRun).toEqual(model);
        },
      ),
      { numRuns: 25 },
    );
  } finally {
    await one.close({ force: true });
  }
});
