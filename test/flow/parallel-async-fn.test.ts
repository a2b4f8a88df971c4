// A data-parallel call runs its function synchronously on each chunk. A function that returns a
// promise (an async function, as task-module functions often are) used to be taken as done: its
// rejection was lost (the call resolved), a map wrote the promise into the typed array (NaN or 0,
// silently) and the worker later died of the unhandled rejection. It now fails the call with
// ParallelError naming the chunk, caused by a TypeError that says why.
import { ParallelError, parallelFor, parallelMap, parallelReduce } from 'skein';
import { describe, expect, it } from 'vitest';
import { filePool, rejection } from '../fixtures/pool-helpers.js';

const TASKS = new URL('../fixtures/parallel-tasks.mjs', import.meta.url);
const pool = filePool(2, TASKS);

function expectPromiseError(err: Error, start: number): void {
  expect(err).toBeInstanceOf(ParallelError);
  expect((err as ParallelError).chunk?.start).toBe(start);
  expect(err.cause).toBeInstanceOf(TypeError);
  expect(err.message).toContain('returned a promise');
}

describe('a function that returns a promise', () => {
  it('fails parallelFor, never resolves as if its chunks ran (named async export and closure)', async () => {
    const a = new Float64Array(new SharedArrayBuffer(8 * 100));
    expectPromiseError(await rejection(parallelFor(a, 'fillAsync', { pool, chunk: 100 })), 0);
    expectPromiseError(await rejection(parallelFor(100, 'rejectAsync', { pool, chunk: 100 })), 0);
    const closure = async (s: number): Promise<void> => {
      if (s === 50) throw new Error('lost');
    };
    expectPromiseError(await rejection(parallelFor(100, closure, { pool, chunk: 100 })), 0);
  });

  it('fails parallelMap instead of writing NaN or 0', async () => {
    const a = new Int32Array(new SharedArrayBuffer(4 * 10)).fill(3);
    const double = (async (x: number) => x * 2) as unknown as (x: number) => number;
    expectPromiseError(await rejection(parallelMap(a, double, { pool, chunk: 5 })), 0);
  });

  it('fails parallelReduce with the same named error', async () => {
    const add = (async (acc: number, x: number) => acc + x) as unknown as (acc: number, x: number) => number;
    expectPromiseError(await rejection(parallelReduce(10, add, { pool, chunk: 10 })), 0);
  });

  it('leaves the workers alive: a rejection after the call is not an unhandled one', async () => {
    const ids = (): number[] => pool.getHealthStatus().map((h) => h.workerId).sort();
    const before = ids();
    await rejection(parallelFor(100, 'rejectAsync', { pool, chunk: 10 }));
    await new Promise((r) => setTimeout(r, 200));
    expect(await pool.submit(7)).toBe(7);
    expect(ids()).toEqual(before);
  });
});
