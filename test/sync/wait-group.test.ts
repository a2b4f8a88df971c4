import {
  AbortError,
  InvalidArgumentError,
  pendingAsyncWaitCount,
  SkeinError,
  TimeoutError,
  WaitGroup,
  WaitGroupNegativeError,
} from 'skein/internal';
import { describe, expect, it } from 'vitest';
import { runOp, sleep } from '../fixtures/sync-run.js';

describe('WaitGroup', () => {
  it('counts add and done; wait resolves at once at zero', async () => {
    const wg = new WaitGroup();
    expect(wg.count).toBe(0);
    await wg.wait();
    wg.add(3);
    wg.add();
    wg.done();
    expect(wg.count).toBe(3);
    wg.add(-3);
    expect(wg.count).toBe(0);
    await wg.wait({ timeout: 0 });
  });

  it('wait resolves when the last piece is done, and leaves no pending wait', async () => {
    const wg = new WaitGroup();
    wg.add(2);
    let resolved = false;
    const p = wg.wait({ timeout: 5000 }).then(() => (resolved = true));
    setTimeout(() => wg.done(), 10);
    await sleep(40);
    expect(resolved).toBe(false);
    wg.done();
    await p;
    expect(wg.count).toBe(0);
    expect(pendingAsyncWaitCount()).toBe(0);
  });

  it('add below zero is WaitGroupNegativeError and changes nothing', () => {
    const wg = new WaitGroup();
    expect(() => wg.done()).toThrow(WaitGroupNegativeError);
    expect(wg.count).toBe(0);
    wg.add(3);
    let err: unknown;
    try {
      wg.add(-4);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WaitGroupNegativeError);
    expect(err).toBeInstanceOf(SkeinError);
    expect((err as Error).name).toBe('WaitGroupNegativeError');
    expect(wg.count).toBe(3);
    wg.done();
    wg.done();
    wg.done();
    expect(() => wg.done()).toThrow(WaitGroupNegativeError);
    expect(wg.count).toBe(0);
  });

  it.each([1.5, Number.NaN, Number.POSITIVE_INFINITY, '1', 2 ** 31, -(2 ** 31) - 1])(
    'add(%s) is InvalidArgumentError and changes nothing',
    (n) => {
      const wg = new WaitGroup();
      wg.add(2);
      expect(() => wg.add(n as number)).toThrow(InvalidArgumentError);
      expect(wg.count).toBe(2);
    },
  );

  it('add() names a bad value as it is: a string in quotes, and a null-prototype object without a TypeError', () => {
    // String(n) made add('2') say "got 2", and threw TypeError (no toString) for Object.create(null)
    const wg = new WaitGroup();
    expect(() => wg.add('2' as never)).toThrow('WaitGroup.add needs an int32 integer, got "2"');
    expect(() => wg.add(Object.create(null) as never)).toThrow(InvalidArgumentError);
    expect(wg.count).toBe(0);
  });

  it('a count that would pass the int32 range is InvalidArgumentError, not a wrap-around', () => {
    const wg = new WaitGroup();
    wg.add(2 ** 31 - 2);
    expect(() => wg.add(5)).toThrow(InvalidArgumentError);
    expect(wg.count).toBe(2 ** 31 - 2);
  });

  it('wait rejects with TimeoutError or AbortError and leaves the count alone', async () => {
    const wg = new WaitGroup();
    wg.add(1);
    await expect(wg.wait({ timeout: 20 })).rejects.toThrow(TimeoutError);
    const ac = new AbortController();
    const p = wg.wait({ signal: ac.signal });
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow(AbortError);
    await expect(wg.wait({ signal: AbortSignal.abort() })).rejects.toThrow(AbortError);
    expect(wg.count).toBe(1);
    expect(pendingAsyncWaitCount()).toBe(0);
    wg.done();
    await wg.wait({ timeout: 0 });
  });

  it('a bad timeout is InvalidArgumentError', async () => {
    const wg = new WaitGroup();
    await expect(wg.wait({ timeout: -1 })).rejects.toThrow(InvalidArgumentError);
    await expect(wg.wait({ timeout: Number.NaN })).rejects.toThrow(InvalidArgumentError);
    expect(() => wg.waitSync({ timeout: -1 })).toThrow(InvalidArgumentError);
    expect(() => wg.waitSync({ timeout: Number.NaN })).toThrow(InvalidArgumentError);
  });

  it('across workers: four workers call done(), the main thread and two blocked workers see zero', async () => {
    const wg = new WaitGroup();
    const pieces = 200;
    wg.add(4 * pieces);
    const waiters = [
      runOp('wgWaitSync', { wg, timeout: 10_000 }),
      runOp('wgWaitSync', { wg, timeout: 10_000 }),
    ];
    const main = wg.wait({ timeout: 10_000 });
    await sleep(30);
    expect(wg.count).toBe(4 * pieces);
    const doers = Array.from({ length: 4 }, () => runOp<number>('wgDone', { wg, pieces, spins: 2000 }));
    await main;
    expect(wg.count).toBe(0);
    expect(await Promise.all(doers)).toEqual([pieces, pieces, pieces, pieces]);
    for (const r of await Promise.all(waiters)) expect(r).toMatchObject({ count: 0 });
  });

  it('a worker waitSync times out with TimeoutError while work is outstanding', async () => {
    const wg = new WaitGroup();
    wg.add(1);
    expect(await runOp('wgWaitSync', { wg, timeout: 30 })).toEqual({ error: 'TimeoutError' });
    expect(wg.count).toBe(1);
  });

  it('an invalid add racing valid add/done never makes them fail, nor wakes a waiter early', async () => {
    const wg = new WaitGroup();
    wg.add(1); // outstanding until the end: no waiter may return before
    const waiter = runOp<{ error?: string }>('wgWaitSync', { wg, timeout: 1500 });
    const [churn, bad] = await Promise.all([
      runOp<{ failed: number; pairs: number }>('wgChurn', { wg, ms: 600 }),
      // The count is 1 or 2, so add(-3) is always invalid.
      runOp<Record<string, number>>('wgBadAdds', { wg, ms: 600, n: -3 }),
    ]);
    expect(churn.pairs).toBeGreaterThan(1000);
    expect(churn.failed).toBe(0);
    expect(Object.keys(bad)).toEqual(['WaitGroupNegativeError']);
    expect(await waiter).toEqual({ error: 'TimeoutError' });
    expect(wg.count).toBe(1);
    wg.done();
    await wg.wait({ timeout: 0 });
  });
});
