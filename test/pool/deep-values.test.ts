// A value nested too deeply to copy (thousands of arrays in arrays) is refused with the named
// SerializationError, from submit, not a bare RangeError from the codec's recursive clone check;
// and the pool goes on working.
import { SerializationError, WorkerPool } from 'skein';
import { describe, expect, it } from 'vitest';
import { rejection, TASKS, trackPools } from '../fixtures/pool-helpers.js';

const track = trackPools();

function nestedArrays(n: number): unknown[] {
  let d: unknown[] = [];
  for (let i = 0; i < n; i++) d = [d];
  return d;
}

describe('deeply nested values', () => {
  it('an input nested past the stack is a SerializationError, and the pool still runs tasks', async () => {
    const pool = track(new WorkerPool({ filename: TASKS, maxWorkers: 1 }));
    const err = await rejection((async () => pool.submit(nestedArrays(20_000), { fn: 'identity' }))());
    expect(err).toBeInstanceOf(SerializationError);
    expect(err.message).toMatch(/^task input cannot be copied to another thread: it is nested too deeply/);
    expect(await pool.submit(nestedArrays(3), { fn: 'identity' })).toEqual([[[[]]]]);
  });

  it('a result the worker wrote but this thread cannot rebuild is a SerializationError, not corrupt memory', async () => {
    // (the worker's stack is larger than the main thread's: 8000 objects deep serialize there and
    // overflow the main thread's deserializer)
    const pool = track(new WorkerPool({ filename: TASKS, maxWorkers: 1 }));
    const err = await rejection(pool.submit(8000, { fn: 'nestedObjects' }));
    expect(err).toBeInstanceOf(SerializationError);
    expect(err.message).toMatch(/nested too deeply/);
    expect(await pool.submit(2, { fn: 'nestedObjects' })).toEqual({ d: { d: {} } });
  });
});
