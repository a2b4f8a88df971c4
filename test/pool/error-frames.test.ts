// An AbortError or TimeoutError made inside skein kept, until something read its `stack`, V8's
// structured stack trace: every frame's receiver and function (with its closure). The pool's
// AbortError is made in AbortTicket.onAbort, whose receiver (the task's abort ticket) holds the
// pool's core, and its TimeoutError in the sweeper's method: a caller keeping the error (a log, a
// list of failures) kept the closed pool's core, options and shared memory alive. The errors now
// format their stack when made, so they hold their message, name, cause and stack string only.
import v8 from 'node:v8';
import vm from 'node:vm';
import { AbortError, abortError, TimeoutError, watchAbort, watchExit } from 'skein/internal';
import { WorkerPool } from 'skein';
import { describe, expect, it } from 'vitest';
import { rejection, sleep, TASKS, until } from '../fixtures/pool-helpers.js';

v8.setFlagsFromString('--expose-gc'); // vitest runs without it; this turns it on for this process
const gc = vm.runInNewContext('gc') as () => void;

/** Collects garbage until `ref` is cleared; false if it is still held after `ms`. */
async function collected(ref: WeakRef<object>, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    gc();
    if (ref.deref() === undefined) return true;
    if (Date.now() > end) return false;
    await sleep(20);
  }
}

describe('an abort or timeout error keeps nothing of the frames that made it', () => {
  it('a pool task aborted or timed out: the closed pool (its options, workerData) is collectable while the error is held', async () => {
    // In a function of its own, so no frame of the test keeps the pool or its workerData.
    const failOnce = async (how: 'abort' | 'timeout'): Promise<{ err: Error; data: WeakRef<object> }> => {
      const workerData = { tag: how, payload: new Float64Array(1 << 20) };
      const pool = new WorkerPool({ filename: TASKS, maxWorkers: 1, workerData });
      try {
        await pool.submit(0);
        const ac = new AbortController();
        const task =
          how === 'abort' ? pool.submit(60_000, { fn: 'sleep', signal: ac.signal }) : pool.submit(60_000, { fn: 'sleep', timeout: 50 });
        if (how === 'abort') {
          await until(() => pool.metrics().busy === 1, 10_000);
          ac.abort();
        }
        return { err: await rejection(task), data: new WeakRef(workerData) };
      } finally {
        await pool.close({ force: true });
      }
    };
    for (const how of ['abort', 'timeout'] as const) {
      const { err, data } = await failOnce(how);
      expect(err).toBeInstanceOf(how === 'abort' ? AbortError : TimeoutError);
      expect(await collected(data), `${how}: the pool's workerData is still held`).toBe(true);
      expect(err.stack).toMatch(how === 'abort' ? /^AbortError: the task was aborted/ : /^TimeoutError: task timed out/);
    }
  });

  it('made in a watch callback (memory/wait): what the callback closes over is collectable while the error is held', async () => {
    const ac = new AbortController();
    const made: Error[] = [];
    // A record the callbacks close over, as a waiter's state is; made in a function of its own.
    const watch = (): WeakRef<object> => {
      const record = { payload: new Float64Array(1 << 20), errors: made };
      watchAbort(ac.signal, () => record.errors.push(abortError(ac.signal)));
      watchExit(ac.signal, undefined, () => new TimeoutError(), (e) => record.errors.push(e));
      return new WeakRef(record);
    };
    const record = watch();
    ac.abort(new Error('stop'));
    expect(made).toHaveLength(2);
    for (const err of made) expect(err).toBeInstanceOf(AbortError);
    expect(await collected(record)).toBe(true);
    expect((made[0] as AbortError).cause).toBe(ac.signal.reason);
    expect(made[0].stack).toMatch(/^AbortError: the operation was aborted\n\s+at /);
  });
});
