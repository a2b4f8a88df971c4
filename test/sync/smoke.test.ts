import { describe, expect, it } from 'vitest';
import { Mutex, Semaphore, WaitGroup } from 'skein';

describe('smoke', () => {
  it('semaphore acquire/release', async () => {
    const s = new Semaphore(2);
    const g = await s.acquire();
    expect(s.available).toBe(1);
    g.release();
    g.release();
    expect(s.available).toBe(2);
    const m = new Mutex();
    await m.withLock(() => expect(m.locked).toBe(true));
    expect(m.locked).toBe(false);
    const wg = new WaitGroup();
    wg.add(1);
    setTimeout(() => wg.done(), 10);
    await wg.wait({ timeout: 1000 });
  });
});
