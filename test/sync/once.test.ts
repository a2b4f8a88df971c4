// Once: runs its function once across calls and threads; a failed run lets the next caller retry.
import { FixedWorkerPool, InvalidArgumentError, Once, TimeoutError } from 'skein';
import { describe, expect, it } from 'vitest';

const TASKS = new URL('../fixtures/sync-locks-tasks.mjs', import.meta.url);

describe('Once', () => {
  it('runs the function for the first caller; callers meanwhile wait for it to finish', async () => {
    const once = new Once();
    let runs = 0;
    let finished = false;
    const fn = async (): Promise<void> => {
      runs++;
      await new Promise((r) => setTimeout(r, 20));
      finished = true;
    };
    const ran = await Promise.all([once.do(fn), once.do(fn).then((r) => (expect(finished).toBe(true), r)), once.do(fn)]);
    expect(ran).toEqual([true, false, false]);
    expect(runs).toBe(1);
    expect(once.done).toBe(true);
    expect(once.doSync(() => runs++)).toBe(false);
  });

  it('a failed run rethrows and leaves the function to run again', async () => {
    const once = new Once();
    await expect(once.do(() => Promise.reject(new RangeError('boom')))).rejects.toThrow(RangeError);
    expect(once.done).toBe(false);
    expect(() => once.doSync(() => { throw new Error('again'); })).toThrow('again');
    expect(await once.do(() => 1)).toBe(true);
    expect(once.done).toBe(true);
  });

  it('a caller waiting on a running function can time out', async () => {
    const once = new Once();
    let release!: () => void;
    const running = once.do(() => new Promise<void>((r) => (release = r)));
    expect(await once.do(() => 1, { timeout: 10 }).catch((e: unknown) => e)).toBeInstanceOf(TimeoutError);
    release();
    expect(await running).toBe(true);
  });

  it('rejects a non-function', async () => {
    await expect(once().do(42 as never)).rejects.toThrow(InvalidArgumentError);
    function once(): Once {
      return new Once();
    }
  });

  it('runs once across real workers racing for it', async () => {
    const once = new Once();
    const counter = new Int32Array(new SharedArrayBuffer(4));
    const pool = new FixedWorkerPool(4, { filename: TASKS });
    try {
      const ran = await Promise.all(Array.from({ length: 8 }, () => pool.submit<boolean>({ once, counter }, { fn: 'once' })));
      expect(ran.filter(Boolean)).toHaveLength(1);
      expect(counter[0]).toBe(1);
      expect(once.done).toBe(true);
    } finally {
      await pool.close();
    }
  });
});
