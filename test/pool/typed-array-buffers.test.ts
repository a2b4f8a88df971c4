// A typed array that owns its buffer arrives owning one, as structured clone gives it: code that
// reads `result.buffer` (`new Float64Array(r.buffer)`) sees the values, not the bytes the
// deserializer read them from (other values' included) at some offset.
import { WorkerPool } from 'skein';
import { describe, expect, it } from 'vitest';
import { TASKS, trackPools } from '../fixtures/pool-helpers.js';

const track = trackPools();

describe('typed arrays through submit', () => {
  it('each arrives with a buffer of its own, alone or inside a value', async () => {
    const pool = track(new WorkerPool({ filename: TASKS, maxWorkers: 1 }));
    const f64 = new Float64Array([1.5, -0, 3]);
    const i32 = new Int32Array([7, -8]);
    const dv = new DataView(new ArrayBuffer(6));
    dv.setInt16(2, -2);
    const got = await pool.submit<Float64Array>(f64, { fn: 'identity' });
    const nested = await pool.submit<{ i32: Int32Array; dv: DataView; name: string }>(
      { i32, dv, name: 'x'.repeat(100) },
      { fn: 'identity' },
    );
    for (const v of [got, nested.i32, nested.dv]) {
      expect(v.byteOffset).toBe(0);
      expect(v.buffer.byteLength).toBe(v.byteLength);
    }
    expect(Array.from(new Float64Array(got.buffer))).toEqual([1.5, -0, 3]);
    expect(Array.from(new Int32Array(nested.i32.buffer))).toEqual([7, -8]);
    expect(new DataView(nested.dv.buffer).getInt16(2)).toBe(-2);
  });
});
