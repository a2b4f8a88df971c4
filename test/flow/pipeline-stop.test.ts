// Stopping a pipeline and its flow control: a signal, a failure with dead-lettering off, and a
// consumer that breaks out all cancel in-flight tasks (their ctx.signal fires) and stop the source;
// the source is never pulled further ahead of the consumer than the buffers allow.
import { AbortError, Pipeline, StageFailedError } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { countingSource, PoolBag } from '../fixtures/flow-helpers.js';
import { until } from '../fixtures/pool-helpers.js';

const bag = new PoolBag();
afterEach(() => bag.closeAll());
// What these tests watch is the tasks' own reaction to ctx.signal. A task that has not ended within
// `killGrace` of its abort gets its worker terminated (the default 100 ms is the pool's promise to
// free a stuck worker soon); under a loaded CI machine a worker may not even be scheduled within
// 100 ms, and a terminated worker's tasks never count their abort. So the grace here is long.
const KILL_GRACE = { killGrace: 10_000 };

describe('Pipeline stopping and backpressure', () => {
  it('a consumer that breaks cancels in-flight tasks and stops the source within one buffer', async () => {
    const aborted = new Int32Array(new SharedArrayBuffer(8)); // [0] aborted, [1] began
    const pool = bag.make(2, { concurrentTasksPerWorker: 8, workerData: { counters: aborted }, ...KILL_GRACE });
    const conc = 4;
    const buffer = 3;
    const p = new Pipeline<number>()
      .stage('prep', { run: (i: number) => ({ i, ms: i < 5 ? 1 : 60_000 }) }, { concurrency: 2, buffer: 1 })
      .stage('slow', { pool, fn: 'sleepy' }, { concurrency: conc, buffer });
    const window = 2 + 1 + conc + buffer;
    const src = countingSource(1_000_000);
    let taken = 0;
    let running = 0;
    for await (const _ of p.processStream(src.source)) {
      if (++taken === 3) {
        // Inputs 0-4 sleep 1 ms, the rest a minute: once 5 + conc tasks began, the conc in flight
        // are all minute-long ones that run in a worker (not still queued in the pool, where an
        // abort means they never run and so never count it).
        await until(() => Atomics.load(aborted, 1) === 5 + conc && p.metrics().stages[1].inFlight === conc, 20_000);
        running = p.metrics().stages[1].inFlight;
        break;
      }
    }
    expect(src.closed()).toBe(true);
    expect(src.pulled()).toBeLessThanOrEqual(taken + window);
    const pulledAtBreak = src.pulled();
    // The tasks that were sleeping for a minute saw their signal abort and gave up.
    await until(() => Atomics.load(aborted, 0) === running, 10_000);
    expect(p.metrics().stages[1].inFlight).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(src.pulled()).toBe(pulledAtBreak);
    // The pool is usable afterwards.
    expect(await pool.submit(1, { fn: 'inc' })).toBe(2);
  });

  it('a signal cancels in-flight tasks (ctx.signal fires) and the output rejects with AbortError', async () => {
    const aborted = new Int32Array(new SharedArrayBuffer(8)); // [0] aborted, [1] began
    const pool = bag.make(2, { concurrentTasksPerWorker: 4, workerData: { counters: aborted }, ...KILL_GRACE });
    const ctl = new AbortController();
    const p = new Pipeline<number>({ signal: ctl.signal })
      .stage('prep', { run: (i: number) => i })
      .stage('wait', { pool, fn: 'waitAbort' }, { concurrency: 6 });
    const src = countingSource(1000, { async: true });
    const run = p.processBatch(src.source);
    await until(() => Atomics.load(aborted, 1) === 6, 20_000); // begun in the workers, not queued
    ctl.abort(new Error('stop now'));
    const err = await run.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AbortError);
    await until(() => Atomics.load(aborted, 0) === 6, 10_000);
    expect(src.closed()).toBe(true);
    expect(p.metrics().stages[1].inFlight).toBe(0);
  });

  it('close() stops every run as a signal would, waits for their tasks, and later runs reject at once', async () => {
    const aborted = new Int32Array(new SharedArrayBuffer(8)); // [0] aborted, [1] began
    const pool = bag.make(2, { concurrentTasksPerWorker: 4, workerData: { counters: aborted }, ...KILL_GRACE });
    const p = new Pipeline<number>().stage('prep', { run: (i: number) => i }).stage('wait', { pool, fn: 'waitAbort' }, { concurrency: 6 });
    const src = countingSource(1000, { async: true });
    const run = p.processBatch(src.source).catch((e: unknown) => e);
    const unread = p.processStream([1, 2, 3]); // never read: holds nothing, so close() does not wait on it
    await until(() => Atomics.load(aborted, 1) === 6, 20_000); // begun in the workers, not queued
    await p.close();
    // close() resolved once the run's tries had settled; the tasks saw their signal abort.
    expect(p.metrics().stages[1].inFlight).toBe(0);
    await until(() => Atomics.load(aborted, 0) === 6, 10_000);
    const err = await run;
    expect(err).toBeInstanceOf(AbortError);
    expect((err as Error).message).toMatch(/closed/);
    expect(src.closed()).toBe(true);
    await expect(unread.next()).rejects.toBeInstanceOf(AbortError);
    await expect(p.process(1)).rejects.toBeInstanceOf(AbortError);
    await p.close(); // again: nothing to do
    expect(await pool.submit(1, { fn: 'inc' })).toBe(2); // the pool is not the pipeline's to close
  });

  it('Symbol.asyncDispose closes the pipeline as close() does, and leaves its pool open', async () => {
    const pool = bag.make(1, KILL_GRACE);
    const p = new Pipeline<number>().stage('inc', { pool, fn: 'inc' });
    expect(await p.processBatch([1, 2])).toEqual([2, 3]);
    await p[Symbol.asyncDispose]();
    await expect(p.process(1)).rejects.toBeInstanceOf(AbortError);
    expect(await pool.submit(1, { fn: 'inc' })).toBe(2);
  });

  // chain.ts P4/P5: an abort settles the tasks at once while their runners go on; each try is still
  // counted once, by the runner or by the main thread, in the stages the runners reach after it too.
  it('an abort counts each try once, in every stage of a fused chain', async () => {
    const counters = new Int32Array(new SharedArrayBuffer(8)); // [1] began
    const pool = bag.make(4, { concurrentTasksPerWorker: 64, workerData: { counters }, ...KILL_GRACE });
    const ctl = new AbortController();
    const p = new Pipeline<number>({ signal: ctl.signal })
      .stage<number>('hold', { pool, fn: 'holdUntilAbort' }, { concurrency: 256 })
      .stage<number>('next', { pool, fn: 'inc' }, { concurrency: 64 }); // lower: a gate in the workers
    const run = p.processBatch(Array.from({ length: 256 }, (_, i) => i)).catch((e: unknown) => e);
    await until(() => Atomics.load(counters, 1) === 256, 20_000);
    ctl.abort();
    expect(await run).toBeInstanceOf(AbortError);
    await until(() => p.metrics().stages.every((s) => s.inFlight === 0), 10_000);
    await until(() => pool.isIdle(), 10_000);
    const [hold, next] = p.metrics().stages;
    expect(hold.done + hold.failed).toBe(256);
    expect(next.done + next.failed).toBe(hold.done);
    expect(await pool.submit(1, { fn: 'inc' })).toBe(2);
  });

  it('a failure with deadLetter: false cancels the other in-flight tasks', async () => {
    const aborted = new Int32Array(new SharedArrayBuffer(8)); // [0] aborted, [1] began
    const pool = bag.make(2, { concurrentTasksPerWorker: 4, workerData: { counters: aborted }, ...KILL_GRACE });
    // Input 5 reaches the pool stage (and fails there at once) only when the six others run in it.
    const p: Pipeline<number, unknown> = new Pipeline<number>({ deadLetter: false })
      .stage(
        'prep',
        {
          run: async (i: number) => {
            if (i !== 5) return i;
            await until(() => Atomics.load(aborted, 1) === 6, 20_000); // begun in the workers
            return 'fail';
          },
        },
        { concurrency: 8, buffer: 0 },
      )
      .stage('wait', { pool, fn: 'waitAbort' }, { concurrency: 8 })
      .stage('never', { run: (x: unknown) => x });
    const numbersFail = p.processBatch([0, 1, 2, 3, 4, 5, 6]);
    const err = await numbersFail.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StageFailedError);
    expect((err as StageFailedError).input).toBe(5); // waitAbort('fail') throws at once
    await until(() => Atomics.load(aborted, 0) === 6, 10_000);
  });

  it('never pulls further ahead of a slow consumer than the buffers allow', async () => {
    const pool = bag.make(2);
    const stages = [
      { conc: 3, buffer: 2 },
      { conc: 2, buffer: 0 },
      { conc: 1, buffer: 4 },
    ];
    const p = new Pipeline<number>()
      .stage<number>('a', { pool, fn: 'inc' }, { concurrency: stages[0].conc, buffer: stages[0].buffer })
      .stage<number>('b', { run: (x: number) => x }, { concurrency: stages[1].conc, buffer: stages[1].buffer })
      .stage<number>('c', { pool, fn: 'later' }, { concurrency: stages[2].conc, buffer: stages[2].buffer });
    const window = stages.reduce((n, s) => n + s.conc + s.buffer, 0);
    const src = countingSource(60);
    let taken = 0;
    let maxAhead = 0;
    for await (const _ of p.processStream(src.source)) {
      taken++;
      await new Promise((r) => setTimeout(r, 3));
      maxAhead = Math.max(maxAhead, src.pulled() - taken);
    }
    expect(taken).toBe(60);
    expect(maxAhead).toBeLessThanOrEqual(window);
    expect(maxAhead).toBeGreaterThan(0);
  });
});

describe('Pipeline flow control, to the item', () => {
  it('a stuck stage holds exactly its concurrency + buffer items, and the source is pulled no further', async () => {
    // run-stages.ts: a segment holds at most `concurrency + buffer` items of a run. The looser test
    // above (a bound over a whole run) passed with every stage holding one item more.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered = 0;
    const p = new Pipeline<number>()
      .stage<number>(
        'stuck',
        {
          run: async (x: number) => {
            entered++;
            await gate;
            return x;
          },
        },
        { concurrency: 2, buffer: 3 },
      )
      .stage<number>('next', { run: (x: number) => x }, { concurrency: 1, buffer: 0 });
    const src = countingSource(100);
    const it = p.processStream(src.source)[Symbol.asyncIterator]();
    const first = it.next();
    await until(() => entered === 2, 5_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(src.pulled()).toBe(2 + 3);
    release();
    expect((await first).value).toBe(0);
    await it.return?.();
  });
});
