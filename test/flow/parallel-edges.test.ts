// Edge cases of the data-parallel calls that a user hits at the borders of their input: a function
// that throws a non-Error, a reducer that reads its arg when it doubles as the combine, timeouts
// past the timer range, an `out` that is no typed array, and every typed array kind.
import { DynamicWorkerPool, FixedWorkerPool, InvalidArgumentError, ParallelError, parallelFor, parallelMap, parallelReduce } from 'skein';
import { describe, expect, it } from 'vitest';
import { filePool, rejection, within } from '../fixtures/pool-helpers.js';

const TASKS = new URL('../fixtures/parallel-tasks.mjs', import.meta.url);
const pool = filePool(2, TASKS);

describe('parallel calls at the edges', () => {
  it('fails with ParallelError when the function throws undefined, never resolves as if every chunk ran', async () => {
    const err = await rejection(
      parallelFor(100, (s: number) => {
        if (s === 50) throw undefined;
      }, { pool, chunk: 10 }),
    );
    expect(err).toBeInstanceOf(ParallelError);
    expect((err as ParallelError).chunk).toEqual({ start: 50, end: 60 });
  });

  it('calls the reducer as the default combine with arg in the fourth place, as every step', async () => {
    // A reducer picking min or max by its arg: joining partials is one more step of it.
    const a = new Float64Array(new SharedArrayBuffer(8 * 1000));
    for (let i = 0; i < a.length; i++) a[i] = (i * 7919) % 1000;
    const pick = (acc: number, x: number, _i: number, o: { max: boolean }): number =>
      o.max ? Math.max(acc, x) : Math.min(acc, x);
    expect(await parallelReduce(a, pick, { pool, arg: { max: true }, identity: -Infinity, chunk: 10 })).toBe(999);
    expect(await parallelReduce(a, pick, { pool, arg: { max: false }, identity: Infinity, chunk: 10 })).toBe(0);
  });

  it('does not time out at once for a timeout past the timer range (Infinity, 2^31 ms)', async () => {
    for (const timeout of [Infinity, 2 ** 31, 1e10]) {
      const c = new Int32Array(new SharedArrayBuffer(4 * 64));
      await parallelFor(64, 'slow', { pool, chunk: 1, timeout, arg: { ms: 1, ran: c } });
      expect(Atomics.load(c, 0)).toBe(64);
    }
  });

  it('rejects an out that is not a shared typed array with InvalidArgumentError', async () => {
    const input = new Float64Array(new SharedArrayBuffer(8 * 10));
    for (const out of [10, { start: 0, end: 10 }, new Float64Array(10)]) {
      expect(await rejection(parallelMap(input, 'square', { pool, out: out as never }))).toBeInstanceOf(
        InvalidArgumentError,
      );
    }
  });

  it('maps and folds every typed array kind like the serial loop, at length 0, 1 and past one chunk', async () => {
    const kinds = [
      Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
      Float32Array, Float64Array,
      ...((globalThis as { Float16Array?: unknown }).Float16Array ? [(globalThis as unknown as { Float16Array: typeof Float32Array }).Float16Array] : []),
    ] as (typeof Float64Array)[];
    for (const C of kinds) {
      for (const n of [0, 1, 5, 37]) {
        const a = new C(new SharedArrayBuffer(C.BYTES_PER_ELEMENT * n));
        for (let i = 0; i < n; i++) a[i] = (i % 11) - 3;
        const out = await parallelMap(a, (x: number) => x * 2, { pool, chunk: 8 });
        expect(out).toBeInstanceOf(C);
        expect(Array.from(out)).toEqual(Array.from(new C(Array.from(a, (x) => x * 2))));
        const sum = await parallelReduce(a, (acc, x) => acc + x, { pool, chunk: 100 });
        expect(sum).toBe(Array.from(a).reduce((x, y) => x + y, 0));
      }
    }
    for (const C of [BigInt64Array, BigUint64Array] as (new (b: SharedArrayBuffer) => BigInt64Array)[]) {
      for (const n of [0, 1, 37]) {
        const a = new C(new SharedArrayBuffer(8 * n));
        for (let i = 0; i < n; i++) a[i] = BigInt(i * 3);
        const out = await parallelMap(a, (x: bigint) => x * 2n, { pool, chunk: 5 });
        expect(out).toBeInstanceOf(C);
        expect(Array.from(out)).toEqual(Array.from(a, (x) => x * 2n));
      }
    }
  });
});

describe('parallelReduce combine', () => {
  it('fails with ParallelError naming no chunk when combine returns no number (never a silent NaN)', async () => {
    const err = await rejection(
      parallelReduce(100, (acc, i) => acc + i, { pool, chunk: 10, combine: (() => undefined) as never }),
    );
    expect(err).toBeInstanceOf(ParallelError);
    expect((err as ParallelError).chunk).toBeUndefined();
    expect(err.cause).toBeInstanceOf(TypeError);
    expect(err.message).toContain('combine must return a number');
  });
});

describe("a pool's taskTimeout", () => {
  it('does not cut a parallel call whose chunks are each short but whose participants run longer', async () => {
    // Before, each participant task timed out under the pool's taskTimeout: the call rejected while
    // participants still ran chunks over the caller's memory. The call's own `timeout` bounds it.
    const timed = new FixedWorkerPool(2, { filename: TASKS, taskTimeout: 100 });
    try {
      const ran = new Int32Array(new SharedArrayBuffer(4));
      await within(parallelFor(30, 'slow', { pool: timed, chunk: 1, arg: { ms: 15, ran } }), 5000, 'parallelFor');
      expect(Atomics.load(ran, 0)).toBe(30);
    } finally {
      await within(timed.close({ force: true }), 5000, 'close');
    }
  });
});

describe('ParallelError when several chunks throw', () => {
  it("names the chunk whose own error is the cause, whichever participant's rejection arrived first", async () => {
    // Chunk 0 fails first but its error carries 30 MB to copy back; chunk 1 fails just after it
    // (released by a flag) with a light error whose rejection often reaches the caller first.
    for (let t = 0; t < 10; t++) {
      const flag = new Int32Array(new SharedArrayBuffer(4));
      const err = await rejection(
        parallelFor(
          100,
          (s: number, _e: number, _a: undefined, f: Int32Array) => {
            if (s === 0) {
              const e = Object.assign(new Error('0'), { payload: new Uint8Array(3e7) });
              Atomics.store(f, 0, 1);
              Atomics.notify(f, 0);
              throw e;
            }
            Atomics.wait(f, 0, 0, 1000);
            const until = Date.now() + 1;
            while (Date.now() < until);
            throw new Error(String(s));
          },
          { pool, chunk: 1, arg: flag },
        ),
      );
      expect(err).toBeInstanceOf(ParallelError);
      expect((err.cause as Error).message).toBe(String((err as ParallelError).chunk?.start));
    }
  });
});

describe('parallelism on a DynamicWorkerPool', () => {
  it('spreads over up to maxWorkers workers, even while the pool has none started', async () => {
    // Before, the default parallelism was the pool's current worker count: 0 for an idle dynamic
    // pool (minWorkers 0), so the whole loop ran in one task, on one worker.
    const dyn = new DynamicWorkerPool({ filename: TASKS, maxWorkers: 2 });
    try {
      expect(dyn.getWorkerCount()).toBe(0);
      const state = new Int32Array(new SharedArrayBuffer(12)); // [0] running now, [1] most at once, [2] 0 to wait on
      await within(
        parallelFor(
          20,
          (_s: number, _e: number, _a: undefined, st: Int32Array) => {
            const now = Atomics.add(st, 0, 1) + 1;
            for (let m = Atomics.load(st, 1); now > m; m = Atomics.load(st, 1)) Atomics.compareExchange(st, 1, m, now);
            Atomics.wait(st, 2, 0, 20);
            Atomics.sub(st, 0, 1);
          },
          { pool: dyn, chunk: 1, arg: state },
        ),
        10_000,
        'parallelFor',
      );
      expect(Atomics.load(state, 1)).toBe(2);
    } finally {
      await within(dyn.close({ force: true }), 5000, 'close');
    }
  });
});
