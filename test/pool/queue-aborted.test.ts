// maxQueue and getQueueLength() after queued tasks were aborted: an aborted task no longer waits.
import v8 from 'node:v8';
import vm from 'node:vm';
import { AbortError, QueueFullError, WorkerPool } from 'skein';
import { describe, expect, it } from 'vitest';
import { rejection, sleep, TASKS, trackPools, until, within } from '../fixtures/pool-helpers.js';

const track = trackPools();

describe('aborted waiting tasks', () => {
  it('leave room under maxQueue and are not counted as queued', async () => {
    const p = track(new WorkerPool({ filename: TASKS, maxWorkers: 1, maxQueue: 2 }));
    await p.submit(0);
    const blocker = p.submit(400, { fn: 'spin' });
    await until(() => p.metrics().busy === 1, 10_000);
    const ac = new AbortController();
    const waiting = [1, 2].map((i) => p.submit(i, { fn: 'double', signal: ac.signal }));
    expect(p.getQueueLength()).toBe(2);
    ac.abort();
    for (const w of waiting) expect(await rejection(w)).toBeInstanceOf(AbortError);
    // Nothing waits now: the queue is empty and has room for maxQueue new tasks.
    expect(p.getQueueLength()).toBe(0);
    expect(p.metrics().queued).toBe(0);
    expect(p.needsDrain).toBe(false);
    const next = [3, 4].map((i) => p.submit(i, { fn: 'double' }));
    expect(p.getQueueLength()).toBe(2);
    expect(await rejection(p.submit(5))).toBeInstanceOf(QueueFullError);
    expect(await Promise.all(next)).toEqual([6, 8]);
    expect(await blocker).toBe(400);
    await within(p.drain(), 3000, 'drain');
    expect(p.getQueueLength()).toBe(0);
    // The two aborted count as failed; the one refused at submit never entered the pool.
    expect(p.metrics()).toMatchObject({ completed: 4, failed: 2, queued: 0, inFlight: 0 });
  });

  // An aborted task left the queue at once as far as counts go, but its cell kept the input (and the
  // extras, with a transfer list) until dispatch reached that cell: with a long-running task ahead,
  // aborted inputs of any size stayed in memory. Six 16 MiB inputs held 96 MiB after their abort.
  // A transfer list also stayed reachable from the AbortError the caller got (its stack trace, not
  // yet formatted, holds the task's abort watch).
  it('let go of their input at the abort, not when dispatch reaches their place', async () => {
    v8.setFlagsFromString('--expose-gc'); // vitest runs without it; this turns it on for this process
    const gc = vm.runInNewContext('gc') as () => void;
    const MiB = 1 << 20;
    const p = track(new WorkerPool({ filename: TASKS, maxWorkers: 1 }));
    await p.submit(0);
    const stopBlocker = new AbortController();
    const blocker = rejection(p.submit(60_000, { fn: 'sleep', signal: stopBlocker.signal }));
    await until(() => p.metrics().busy === 1, 10_000);
    const arrayBuffers = (): number => {
      gc();
      return process.memoryUsage().arrayBuffers;
    };
    const base = arrayBuffers();
    const aborts: AbortController[] = [];
    // In a function of its own, so no frame of this test keeps an input alive.
    const submitBig = (i: number): Promise<Error> => {
      const ac = new AbortController();
      aborts.push(ac);
      // Too big for the rings and no worker with room: both kinds wait in the main thread's queue.
      // A Buffer is copied at submit (its copy waits); a transferred ArrayBuffer waits as itself.
      const ab = new ArrayBuffer(16 * MiB);
      const task =
        i % 2 === 0
          ? p.submit(Buffer.from(ab), { fn: 'byteSum', signal: ac.signal })
          : p.submit(new Uint8Array(ab), { fn: 'byteSum', signal: ac.signal, transfer: [ab] });
      return rejection(task);
    };
    const waiting = [0, 1, 2, 3, 4, 5].map(submitBig);
    expect(p.getQueueLength()).toBe(6);
    expect(arrayBuffers() - base).toBeGreaterThanOrEqual(90 * MiB); // held while they wait
    for (const ac of aborts) ac.abort();
    const errors = await Promise.all(waiting); // kept, as a caller may keep them
    for (const err of errors) expect(err).toBeInstanceOf(AbortError);
    expect(p.getQueueLength()).toBe(0);
    // The blocker still runs, so dispatch has not reached those cells: the abort let go of them.
    // (Polled: V8 frees collected buffers' memory on a background thread, a little after gc().)
    let held = arrayBuffers() - base;
    for (let i = 0; i < 40 && held >= 8 * MiB; i++) {
      await sleep(50);
      held = arrayBuffers() - base;
    }
    expect(p.metrics().busy).toBe(1);
    expect(held).toBeLessThan(8 * MiB);
    stopBlocker.abort();
    expect(await blocker).toBeInstanceOf(AbortError);
    expect(await p.submit(21, { fn: 'double' })).toBe(42);
  });
});
