// The chunk cursor is an Int32 word that every claim moves by one, and each participant claims once
// past the last chunk. A range cut into more chunks than it holds (2^31 - 1, e.g. chunk: 1 over a
// 3 GiB Uint8Array or { start: 0, end: 2 ** 33 }) wrapped it negative: chunks ran at negative
// indices, then again from 0, and the call never ended. The chunk now grows so that at most 2^30
// chunks are handed out, as a reduction's already grows to keep its partials bounded.
import { ParallelError, parallelFor } from 'skein';
import { describe, expect, it } from 'vitest';
import { filePool, rejection, within } from '../fixtures/pool-helpers.js';

const TASKS = new URL('../fixtures/parallel-tasks.mjs', import.meta.url);
const pool = filePool(2, TASKS);

describe('a range of more chunks than the Int32 cursor counts', () => {
  it('is cut into at most 2^30 chunks, however small the chunk asked for', async () => {
    for (const end of [2 ** 33, Number.MAX_SAFE_INTEGER]) {
      // The first chunk fails at once, so the call ends and its ParallelError names that chunk.
      const err = await within(
        rejection(
          parallelFor({ start: 0, end }, (s: number) => {
            if (s === 0) throw new Error('first');
          }, { pool, chunk: 1, parallelism: 1 }),
        ),
        5000,
        'parallelFor',
      );
      expect(err).toBeInstanceOf(ParallelError);
      const chunk = (err as ParallelError).chunk as { start: number; end: number };
      expect(chunk.start).toBe(0);
      expect(Math.ceil(end / chunk.end)).toBeLessThanOrEqual(2 ** 30);
    }
  });
});
