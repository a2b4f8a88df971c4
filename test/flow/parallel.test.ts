// parallelFor / parallelMap / parallelReduce through real workers over real shared memory: results
// equal the serial loop, each index runs exactly once, reductions are deterministic, and errors,
// crashes, aborts and timeouts fail the call with a named error while the pool stays usable.
import fc from 'fast-check';
import { AbortError, ClosureVariableError, InvalidArgumentError, ParallelError, parallelFor, parallelMap, parallelReduce, TimeoutError, WorkerCrashedError } from 'skein';
import { describe, expect, it } from 'vitest';
import { filePool, rejection, within } from '../fixtures/pool-helpers.js';

const TASKS = new URL('../fixtures/parallel-tasks.mjs', import.meta.url);
const pool = filePool(3, TASKS);

const shared = (n: number): Float64Array => new Float64Array(new SharedArrayBuffer(8 * n));
/** A shared Float64Array holding f(i) at i (TypedArray#map would return one over plain memory). */
function sharedOf(n: number, f: (i: number) => number): Float64Array {
  const a = shared(n);
  for (let i = 0; i < n; i++) a[i] = f(i);
  return a;
}
const counts = (n: number): Int32Array => new Int32Array(new SharedArrayBuffer(4 * n));

/** The pool still runs plain tasks and parallel calls after a failure. */
async function expectUsable(): Promise<void> {
  expect(await pool.submit(41)).toBe(41);
  const a = shared(100).fill(1);
  await parallelFor(a, 'scale', { pool, arg: 3 });
  expect(a[99]).toBe(3 + 99);
}

describe('parallelFor', () => {
  it('runs a named chunk function in place over the shared array, like the serial loop', async () => {
    const n = 100_003;
    const a = shared(n);
    for (let i = 0; i < n; i++) a[i] = i % 7;
    const want = Float64Array.from(a, (x, i) => x * 2 + i);
    const buffer = a.buffer;
    await parallelFor(a, 'scale', { pool, arg: 2 });
    expect(a.buffer).toBe(buffer);
    expect(a).toEqual(want);
  });

  it('runs a self-contained function, with arg as its fourth argument', async () => {
    const a = shared(1000).fill(2);
    await parallelFor(
      a,
      (start, end, arr, k: number) => {
        for (let i = start; i < end; i++) arr[i] = arr[i] ** k;
      },
      { pool, arg: 3, chunk: 7 },
    );
    expect(a.every((x) => x === 8)).toBe(true);
  });

  it('runs every index exactly once, for any length, chunk and parallelism (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 5000 }),
        fc.option(fc.integer({ min: 1, max: 700 }), { nil: undefined }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 50 }),
        async (len, chunk, parallelism, start) => {
          const c = counts(start + len);
          await parallelFor({ start, end: start + len }, 'visit', { pool, chunk, parallelism, arg: c });
          for (let i = 0; i < start; i++) if (c[i] !== 0) return false;
          for (let i = start; i < start + len; i++) if (c[i] !== 1) return false;
          return true;
        },
      ),
      { numRuns: 40 },
    );
  });

  it('accepts a length for the range 0..n', async () => {
    const c = counts(257);
    await parallelFor(257, 'visit', { pool, arg: c, chunk: 16 });
    expect(c.every((x) => x === 1)).toBe(true);
  });

  it("fails with ParallelError naming the chunk, the function's own error as cause, and stops the other chunks", async () => {
    const err = await rejection(parallelFor(10_000, 'failAt', { pool, arg: { at: 5000 }, chunk: 100 }));
    expect(err).toBeInstanceOf(ParallelError);
    expect(err.name).toBe('ParallelError');
    expect((err as ParallelError).chunk).toEqual({ start: 5000, end: 5100 });
    expect(err.message).toContain('bad index 5000');
    expect(err.cause).toBeInstanceOf(RangeError);
    expect((err.cause as { index?: number }).index).toBe(5000);
    await expectUsable();
  });

  it('fails with ParallelError caused by WorkerCrashedError when a worker dies, and the pool replaces it', async () => {
    const err = await rejection(parallelFor(10_000, 'crashAt', { pool, arg: 3000, chunk: 100 }));
    expect(err).toBeInstanceOf(ParallelError);
    expect(err.cause).toBeInstanceOf(WorkerCrashedError);
    await expectUsable();
  });

  it('rejects with AbortError when aborted, and the chunks not yet started never run', async () => {
    const ac = new AbortController();
    const ran = counts(1);
    const call = parallelFor(200, 'slow', { pool, arg: { ms: 20, ran }, chunk: 1, signal: ac.signal });
    setTimeout(() => ac.abort(), 60);
    const err = await within(rejection(call), 5000, 'aborted parallelFor');
    expect(err).toBeInstanceOf(AbortError);
    // 200 chunks of 20 ms on 3 workers take > 1 s; an abort after 60 ms leaves most unrun, and
    // once the call settled no participant runs another chunk.
    const after = Atomics.load(ran, 0);
    expect(after).toBeLessThan(100);
    await new Promise((r) => setTimeout(r, 100));
    expect(Atomics.load(ran, 0)).toBe(after);
    await expectUsable();
  });

  it('rejects at once with AbortError for an already aborted signal', async () => {
    const err = await rejection(parallelFor(10, 'visit', { pool, arg: counts(10), signal: AbortSignal.abort() }));
    expect(err).toBeInstanceOf(AbortError);
  });

  it('rejects with TimeoutError past its timeout', async () => {
    const t0 = Date.now();
    const err = await within(rejection(parallelFor(200, 'slow', { pool, arg: { ms: 20, ran: counts(1) }, chunk: 1, timeout: 80 })), 5000, 'timeout');
    expect(err).toBeInstanceOf(TimeoutError);
    expect(Date.now() - t0).toBeLessThan(2000);
    await expectUsable();
  });

  it('names a closed-over variable a self-contained function reached for', async () => {
    const k = 3;
    const err = await rejection(
      parallelFor(shared(10), (s, e, a) => {
        for (let i = s; i < e; i++) a[i] = k;
      }, { pool }),
    );
    expect(err).toBeInstanceOf(ParallelError);
    expect(err.cause).toBeInstanceOf(ClosureVariableError);
    expect((err.cause as ClosureVariableError).variable).toBe('k');
    expect(err.message).toContain("reads 'k'");
  });

  it('rejects bad input at the call site with InvalidArgumentError', async () => {
    const plain = new Float64Array(10);
    for (const p of [
      parallelFor(plain, 'scale', { pool }),
      parallelFor(shared(10), 'scale', { pool, chunk: 0 }),
      parallelFor(shared(10), 'scale', { pool, parallelism: 1.5 }),
      parallelFor({ start: 5, end: 2 }, 'scale', { pool }),
      parallelFor(-1, 'scale', { pool }),
      parallelFor(shared(10), '', { pool }),
      parallelFor(shared(10), Math.max as never, { pool }),
      parallelFor(shared(10), 'scale', {} as never),
    ]) {
      expect(await rejection(p)).toBeInstanceOf(InvalidArgumentError);
    }
    expect((await rejection(parallelFor(plain, 'scale', { pool }))).message).toContain('SharedArrayBuffer');
  });

  it('fails with a named error for a function the task module lacks', async () => {
    const err = await rejection(parallelFor(10, 'nope', { pool }));
    expect(err).toBeInstanceOf(ParallelError);
    expect(err.cause).toMatchObject({ name: 'TaskFunctionNotFoundError' });
  });
});

describe('parallelMap', () => {
  it('maps into a new shared array of the same type', async () => {
    const a = new Int32Array(new SharedArrayBuffer(4 * 1001));
    for (let i = 0; i < a.length; i++) a[i] = i;
    const out = await parallelMap(a, 'square', { pool });
    expect(out).toBeInstanceOf(Int32Array);
    expect(out.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(Array.from(out)).toEqual(Array.from(a, (x) => x * x));
  });

  it('maps a range into `out`, value and index being the index', async () => {
    const out = shared(50);
    const r = await parallelMap({ start: 100, end: 150 }, (v, i) => v * 1000 + i, { pool, out, chunk: 3 });
    expect(r).toBe(out);
    expect(Array.from(out)).toEqual(Array.from({ length: 50 }, (_, j) => (100 + j) * 1001));
  });

  it('rejects an out that is too short', async () => {
    expect(await rejection(parallelMap(shared(10), 'square', { pool, out: shared(5) }))).toBeInstanceOf(
      InvalidArgumentError,
    );
  });
});

describe('parallelReduce', () => {
  it('sums like the serial loop, combined in a worker, and the same bits at any parallelism', async () => {
    const n = 200_001;
    const a = sharedOf(n, (i) => Math.sin(i) * 1e6);
    const results = new Set<number>();
    for (const parallelism of [1, 2, 3, 5]) {
      results.add(await parallelReduce(a, 'add', { pool, parallelism, chunk: 1000 }));
    }
    expect(results.size).toBe(1);
    const [r] = results;
    expect(r).toBeCloseTo(a.reduce((x, y) => x + y, 0), 3);
  });

  it('takes a combine distinct from the reducer, and a range', async () => {
    const sumSq = await parallelReduce(1000, (acc, i) => acc + i * i, { pool, combine: 'plus' });
    expect(sumSq).toBe((999 * 1000 * 1999) / 6);
    const max = await parallelReduce(sharedOf(1000, (i) => (i * 7919) % 1000), (m, x) => Math.max(m, x), {
      pool,
      identity: -Infinity,
    });
    expect(max).toBe(999);
  });

  it('returns the identity over no indices', async () => {
    expect(await parallelReduce(0, 'add', { pool, identity: 5 })).toBe(5);
  });

  it('fails with a named error when the reducer returns no number', async () => {
    const err = await rejection(parallelReduce(10, () => 'x' as unknown as number, { pool }));
    expect(err).toBeInstanceOf(ParallelError);
    expect(err.cause).toBeInstanceOf(TypeError);
  });
});
