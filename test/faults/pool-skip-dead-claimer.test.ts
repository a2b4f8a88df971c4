// A worker that dies inside a claim after finding the claimed task cancelled, before it wrote the
// task's Skipped result (claim C5, C9 in src/pool/shared/layout.ts). Its slot is CANCELLED, named by
// the dead worker, and its record already CONSUMED: neither recovery path (orphan records, QUEUED
// slots named by the dead) saw it, and only that Skipped result frees such a slot. So the slot stayed
// taken for good: isIdle() false and metrics().inFlight 1 forever, the result loop holding the
// process alive, and the ring backlog one short (cancelledInRing never came back down).
import { AbortError, TimeoutError, WorkerPool } from 'skein';
import { Step, StepGate } from 'skein/internal';
import { afterEach, expect, it } from 'vitest';
import { sleep, within } from '../fixtures/pool-helpers.js';

const GATED = new URL('../fixtures/pool-step-gate.mjs', import.meta.url);

let pool: WorkerPool | undefined;
afterEach(async () => {
  if (pool) await within(pool.close({ force: true }), 5000, 'close');
  pool = undefined;
});

it('a cancelled task whose claimer dies before writing its Skipped result frees its slot', async () => {
  pool = new WorkerPool({ filename: GATED, maxWorkers: 1, concurrentTasksPerWorker: 2, killGrace: 1 });
  const p = pool;
  const gate = new StepGate();
  expect(await p.submit(gate.sab, { fn: 'installGate' })).toBe(true);
  // A: runs past its limit and ignores its signal, so its worker is terminated after the kill grace.
  // It holds one of the worker's two places; the worker claims with the other.
  const a = p.submit(60_000, { fn: 'nap', timeout: 300 }).catch((e: unknown) => e);
  await sleep(50);
  gate.arm(Step.PoolTaskSkipped);
  // B: placed in the ring and cancelled there at once (QUEUED -> CANCELLED); its record waits.
  const ac = new AbortController();
  const b = p.submit(1, { fn: 'double', signal: ac.signal }).catch((e: unknown) => e);
  ac.abort();
  expect(await b).toBeInstanceOf(AbortError);
  // The worker claims B's record, finds it cancelled, and stops right there (inside its claim).
  gate.awaitPause(10_000);
  // A times out; the worker, still stopped, is terminated 1 ms later and replaced.
  expect(await a).toBeInstanceOf(TimeoutError);
  await within(
    (async () => {
      while (!p.isIdle()) await sleep(10);
    })(),
    3000,
    'the pool to be idle (the dead claimer\'s cancelled slot freed)',
  );
  expect(p.metrics().inFlight).toBe(0);
  expect(p.getQueueLength()).toBe(0);
  // The pool works on, with every slot.
  expect(await within(p.submit(21, { fn: 'double' }), 5000, 'a task after the kill')).toBe(42);
  expect(p.isIdle()).toBe(true);
}, 20_000);
