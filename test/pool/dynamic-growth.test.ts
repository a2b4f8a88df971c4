// Growth of a dynamic pool while its first workers are still loading their task module.
import { DynamicWorkerPool } from 'skein';
import { describe, expect, it } from 'vitest';
import { TASKS, trackPools, within } from '../fixtures/pool-helpers.js';

const track = trackPools();

describe('DynamicWorkerPool growth during boot', () => {
  // Regression: maybeGrow counted a starting worker's room twice (once as starting, once as an
  // entry with nothing in flight), so a second burst before the first workers were ready started
  // too few: 2 + 6 long tasks on maxWorkers 8 got 6 workers, two tasks waiting behind the others.
  it('a second burst while the first workers boot gets a worker per waiting task', async () => {
    const p = track(new DynamicWorkerPool({ filename: TASKS, maxWorkers: 8, idleTimeout: 60_000 }));
    const first = [0, 1].map(() => p.submit(300, { fn: 'sleep' }));
    await Promise.resolve(); // the first burst's flush: 2 workers start
    expect(p.getWorkerCount()).toBe(2);
    expect(p.getHealthStatus().some((h) => h.ready)).toBe(false); // still loading
    const second = Array.from({ length: 6 }, () => p.submit(300, { fn: 'sleep' }));
    await Promise.resolve();
    expect(p.getWorkerCount()).toBe(8);
    await within(Promise.all([...first, ...second]), 10_000, 'tasks');
    expect(p.metrics().peakWorkers).toBe(8);
  });
});
