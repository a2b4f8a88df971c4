// withPermit / withLock / withRead / withWrite with `fn` not a function waited for the permit or
// lock first: forever while another holder kept it (or TimeoutError with a timeout), and with it
// free they took it, threw a plain TypeError from the call, and gave it back. The call is now
// refused at once with InvalidArgumentError, nothing queued or taken (as ConcurrencyManager.run).
import { InvalidArgumentError, Mutex, RwLock, Semaphore } from 'skein';
import { describe, expect, it } from 'vitest';
import { rejection } from '../fixtures/pool-helpers.js';

const BAD: unknown[] = [undefined, null, 42, 'fn', {}];

describe('a with-helper given something that is not a function', () => {
  it('is refused at once while another holder keeps the permit or lock, and takes nothing', async () => {
    const sem = new Semaphore(1);
    const mutex = new Mutex();
    const rw = new RwLock();
    const held = [await sem.acquire(), await mutex.lock(), await rw.write()];
    for (const fn of BAD) {
      const f = fn as () => unknown;
      for (const call of [
        () => sem.withPermit(f, { timeout: 200 }),
        () => mutex.withLock(f, { timeout: 200 }),
        () => rw.withRead(f, { timeout: 200 }),
        () => rw.withWrite(f, { timeout: 200 }),
      ]) {
        const t0 = performance.now();
        const err = await rejection(call());
        expect(err).toBeInstanceOf(InvalidArgumentError);
        expect(err.message).toMatch(/fn/);
        expect(performance.now() - t0).toBeLessThan(150); // not after waiting out the timeout
      }
    }
    for (const g of held) g.release();
    // nothing was left queued or taken: each is free for a real call
    expect(await sem.withPermit(() => 1, { timeout: 1000 })).toBe(1);
    expect(await mutex.withLock(() => 2, { timeout: 1000 })).toBe(2);
    expect(await rw.withWrite(() => 3, { timeout: 1000 })).toBe(3);
  });

  it('withLockSync is refused too, with the lock free, and leaves it free', () => {
    const mutex = new Mutex();
    for (const fn of BAD) expect(() => mutex.withLockSync(fn as () => unknown)).toThrow(InvalidArgumentError);
    expect(mutex.tryLock()).toBeTruthy();
  });
});
