// A task a worker has claimed but not yet started (claim C4-C7 in src/pool/shared/layout.ts) must
// count against `maxQueue`: it has left the ring's backlog (CLAIMED), and until the worker counted
// it in flight it counted nowhere, so a pool with maxQueue 0 and one busy worker took a second task
// in that moment (seen as a flaky test/pool/map-room.test.ts; under load the moment lasted tens of
// ms). The StepGate stops the worker right after its claim, before it copies the task out.
import { QueueFullError, WorkerPool } from 'skein';
import { Step, StepGate } from 'skein/internal';
import { afterEach, describe, expect, it } from 'vitest';
import { rejection, within } from '../fixtures/pool-helpers.js';

const GATED = new URL('../fixtures/pool-step-gate.mjs', import.meta.url);

let pool: WorkerPool | undefined;
afterEach(async () => {
  if (pool) await within(pool.close({ force: true }), 5000, 'close');
  pool = undefined;
});

describe('maxQueue counts a task claimed and not yet started', () => {
  it('refuses a second task while the only worker holds the first between claim and start', async () => {
    const p = (pool = new WorkerPool({ filename: GATED, minWorkers: 1, maxWorkers: 1, maxQueue: 0 }));
    const gate = new StepGate();
    expect(await p.submit(gate.sab, { fn: 'installGate' })).toBe(true);
    gate.arm(Step.RingClaimCopy);
    const first = p.submit(21, { fn: 'double' });
    await Promise.resolve(); // the submit's flush (a microtask queued before this one) publishes the task
    gate.awaitPause(10_000); // the worker claimed it and stopped before copying it out
    const second = rejection(p.submit(1, { fn: 'double' }));
    gate.release();
    expect(await within(second, 5000, 'the second submit')).toBeInstanceOf(QueueFullError);
    expect(await within(first, 5000, 'the first task')).toBe(42);
    expect(await p.submit(5, { fn: 'double' })).toBe(10); // room again once it finished
    expect(p.metrics()).toMatchObject({ busy: 0 });
  });
});
