// A call over no indices with a signal already aborted rejected nothing: parallelFor and parallelMap
// resolved and parallelReduce resolved to its identity, while the same call over one index rejected
// with AbortError (and fanOut([]) with an aborted signal rejects). An aborted signal now rejects
// every call, empty or not, before anything runs.
import { AbortError, parallelFor, parallelMap, parallelReduce } from 'skein';
import { describe, expect, it } from 'vitest';
import { filePool, rejection } from '../fixtures/pool-helpers.js';

const TASKS = new URL('../fixtures/parallel-tasks.mjs', import.meta.url);
const pool = filePool(1, TASKS);

describe('an empty call with an aborted signal', () => {
  it('rejects with AbortError, as a call over some indices does', async () => {
    const signal = AbortSignal.abort(new Error('stop'));
    const empty = new Float64Array(new SharedArrayBuffer(0));
    for (const call of [
      parallelFor(0, 'visit', { pool, signal }),
      parallelFor({ start: 5, end: 5 }, 'visit', { pool, signal }),
      parallelMap(empty, 'square', { pool, signal }),
      parallelReduce(0, 'add', { pool, signal, identity: 5 }),
    ]) {
      const err = await rejection(call);
      expect(err).toBeInstanceOf(AbortError);
      expect((err.cause as Error).message).toBe('stop');
    }
  });

  it('still resolves without a signal', async () => {
    await parallelFor(0, 'visit', { pool });
    expect(await parallelReduce(0, 'add', { pool, identity: 5 })).toBe(5);
  });
});
