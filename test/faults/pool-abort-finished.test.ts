// An abort that arrives after the task ran to its end, before the main thread read its result
// (claim C7, C8 in src/pool/shared/layout.ts). The work is done and its outcome written (or being
// written): the caller gets that outcome, once, not an AbortError with the result thrown away. A
// task still running when the abort comes rejects with AbortError at once, as before.
// The StepGate stops the worker at the point named while the main thread, blocked in awaitPause,
// reads no result, so each interleaving happens every run.
import { AbortError, WorkerPool } from 'skein';
import { Step, StepGate } from 'skein/internal';
import { afterEach, describe, expect, it } from 'vitest';
import { rejection, until, within } from '../fixtures/pool-helpers.js';

const GATED = new URL('../fixtures/pool-step-gate.mjs', import.meta.url);

let pool: WorkerPool | undefined;
afterEach(async () => {
  if (pool) await within(pool.close({ force: true }), 5000, 'close');
  pool = undefined;
});

/** A one-worker pool obeying `gate`, which stops the worker at `point` with one task's abort in hand. */
async function abortAt(point: (typeof Step)[keyof typeof Step]): Promise<{ p: WorkerPool; task: Promise<unknown> }> {
  const p = (pool = new WorkerPool({ filename: GATED, maxWorkers: 1 }));
  const gate = new StepGate();
  expect(await p.submit(gate.sab, { fn: 'installGate' })).toBe(true);
  gate.arm(point);
  const ac = new AbortController();
  const task = p.submit(21, { fn: 'double', signal: ac.signal });
  task.catch(() => {}); // awaited below
  await Promise.resolve(); // the submit's flush (a microtask queued before this one) publishes the task
  gate.awaitPause(10_000); // the worker stops at `point`; this thread is blocked, so it reads nothing
  ac.abort();
  gate.release();
  return { p, task };
}

describe('an abort after the task finished, before its result was read', () => {
  it('delivers the result already published', async () => {
    const { p, task } = await abortAt(Step.PoolResultWritten);
    expect(await within(task, 5000, 'the task')).toBe(42);
    await until(() => p.isIdle(), 5000, 'the pool to be idle');
    expect(p.metrics()).toMatchObject({ completed: 2, failed: 0, inFlight: 0 });
    expect(await p.submit(5, { fn: 'double' })).toBe(10);
  });

  it('delivers the result still being written (the slot already FINISHED)', async () => {
    const { p, task } = await abortAt(Step.PoolTaskFinished);
    expect(await within(task, 5000, 'the task')).toBe(42);
    await until(() => p.isIdle(), 5000, 'the pool to be idle');
    expect(p.metrics()).toMatchObject({ completed: 2, failed: 0, inFlight: 0 });
  });

  it('still rejects a task that is running with AbortError, once (its late result is dropped)', async () => {
    const { p, task } = await abortAt(Step.PoolTaskRunning);
    expect(await rejection(task)).toBeInstanceOf(AbortError);
    await until(() => p.isIdle(), 5000, 'the pool to be idle');
    expect(p.metrics()).toMatchObject({ completed: 1, failed: 1, inFlight: 0 });
    expect(await p.submit(5, { fn: 'double' })).toBe(10);
  });
});
