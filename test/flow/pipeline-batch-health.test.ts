// A pool stage's items go several to a task once their cost is known (about 8 ms of work per task).
// Items slower than that estimate made such a task outlast the pool's `unhealthyAfter`, though each
// item ended in time: getHealthStatus() read the worker as stuck, and a watchdog calling
// restartUnhealthyWorkers() killed the batch. Each item done is now progress for the health check.
import { Pipeline } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { PoolBag } from '../fixtures/flow-helpers.js';
import { sleep } from '../fixtures/pool-helpers.js';

const bag = new PoolBag();
afterEach(() => bag.closeAll());
const LIMIT = 300;

describe('Pipeline: a batch of items slower than estimated is not a stuck worker', () => {
  it('stays healthy while each item ends within unhealthyAfter, and a watchdog restarts nothing', async () => {
    const pool = bag.make(1, { unhealthyAfter: LIMIT });
    const p = new Pipeline<{ id: number; ms: number }>({ ordered: false }).stage('s', { pool, fn: 'sleepy' });
    // Quick items first (the estimate: ~1 ms each, so batches of several), then items of 120 ms.
    const inputs = [...Array(200).keys()].map((id) => ({ id, ms: id < 160 ? 0 : 120 }));
    let running = true;
    const t0 = Date.now();
    const run = p.processBatch(inputs).finally(() => (running = false));
    let unhealthy = 0;
    let restarted = 0;
    while (running) {
      await sleep(25);
      if (!running) break;
      unhealthy += pool.getHealthStatus().filter((h) => !h.healthy).length;
      if (Date.now() - t0 > 2 * LIMIT) restarted += await pool.restartUnhealthyWorkers();
    }
    const out = await run;
    expect(out).toHaveLength(200);
    expect({ unhealthy, restarted }).toEqual({ unhealthy: 0, restarted: 0 });
  });
});
