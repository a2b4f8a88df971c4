// maxQueue and getQueueLength() after queued tasks were aborted: an aborted task no longer waits.
import { AbortError, QueueFullError, WorkerPool } from 'skein';
import { describe, expect, it } from 'vitest';
import { rejection, TASKS, trackPools, until, within } from '../fixtures/pool-helpers.js';

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
});
