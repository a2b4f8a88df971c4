// A pool given to serveMetrics is traced on the diagnostics channels: every way of running tasks on
// it publishes (map, proxy() methods and exec published nothing), and tracing changes no error a
// bad call gets (a traced submitBatch of a non-iterable threw a TypeError synchronously instead of
// rejecting with InvalidArgumentError).
import diagnostics from 'node:diagnostics_channel';
import { FixedWorkerPool, InvalidArgumentError, serveMetrics } from 'skein';
import { CHANNELS, type TaskEndMessage, type TaskStartMessage } from 'skein/internal';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TASKS } from '../fixtures/pool-helpers.js';

describe('a pool traced by serveMetrics', () => {
  const pool = new FixedWorkerPool(1, { filename: TASKS });
  const starts: TaskStartMessage[] = [];
  const ends: TaskEndMessage[] = [];
  const onStart = (m: unknown): void => void starts.push(m as TaskStartMessage);
  const onEnd = (m: unknown): void => void ends.push(m as TaskEndMessage);
  let server: Awaited<ReturnType<typeof serveMetrics>>;

  beforeAll(async () => {
    server = await serveMetrics({ port: 0, objects: { p: pool } });
    diagnostics.subscribe(CHANNELS.taskStart, onStart);
    diagnostics.subscribe(CHANNELS.taskEnd, onEnd);
  });
  afterAll(async () => {
    diagnostics.unsubscribe(CHANNELS.taskStart, onStart);
    diagnostics.unsubscribe(CHANNELS.taskEnd, onEnd);
    await server.close();
    await pool.close();
  });

  it('publishes for map, proxy() methods and exec, as for submit', async () => {
    starts.length = 0;
    ends.length = 0;
    const out: unknown[] = [];
    for await (const x of pool.map([1, 2, 3], { fn: 'double' })) out.push(x);
    expect(out).toEqual([2, 4, 6]);
    expect(await pool.proxy<{ double: (x: number) => number }>().double(5)).toBe(10);
    expect(await pool.exec((a: number) => a + 1, 1)).toBe(2);
    await expect(pool.map([0], { fn: 'fail' })[Symbol.asyncIterator]().next()).rejects.toThrow();
    expect(starts.map((s) => [s.pool, s.fn, s.count])).toEqual([
      ['p', 'double', 3],
      ['p', 'double', undefined],
      ['p', 'skein:exec', undefined],
      ['p', 'fail', 1],
    ]);
    expect(ends.map((e) => [e.id, e.ok])).toEqual(starts.map((s, i) => [s.id, i !== 3]));
  });

  it('a map left early ends its trace too', async () => {
    starts.length = 0;
    ends.length = 0;
    for await (const x of pool.map([1, 2, 3, 4], { fn: 'double' })) if (x === 2) break;
    expect(starts).toHaveLength(1);
    expect(ends.map((e) => [e.id, e.ok])).toEqual([[starts[0].id, true]]);
  });

  it('submitBatch of a non-iterable still rejects with InvalidArgumentError', async () => {
    let threw: unknown;
    let p: Promise<unknown> | undefined;
    try {
      p = pool.submitBatch(5 as never);
    } catch (err) {
      threw = err;
    }
    expect(threw).toBeUndefined();
    await expect(p).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
