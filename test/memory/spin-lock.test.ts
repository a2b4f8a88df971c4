import { threadId, Worker } from 'node:worker_threads';
import { SPIN_LOCK_SLOTS, SPIN_LOCK_STEAL_MS, spinLock, spinLockStats, spinUnlock } from 'skein/internal';
import { describe, expect, it } from 'vitest';

// Slots (see fixtures/spin-lock-worker.mjs): [0, 1] the lock, [2] counter, [3] start, [4] held, [5] stolen.
const FIXTURE = new URL('../fixtures/spin-lock-worker.mjs', import.meta.url);
const OWNER = (1 << 30) - 1;

function memory(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4 * 8));
}

function start(mode: string, v: Int32Array, extra: Record<string, unknown> = {}): Worker {
  return new Worker(FIXTURE, { workerData: { mode, sab: v.buffer, ...extra } });
}

function answer<T>(w: Worker): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`worker exited with code ${code} before answering`)));
  });
}

/** Waits (without blocking the event loop) until v[i] is raised. */
async function raised(v: Int32Array, i: number): Promise<void> {
  const r = Atomics.waitAsync(v, i, 0, 10_000);
  if (r.async) expect(await r.value).toBe('ok');
}

describe('spinLock', () => {
  it('takes two slots: the holder (threadId + 1) and a stamp that differs per holding', () => {
    expect(SPIN_LOCK_SLOTS).toBe(2);
    const v = memory();
    spinLock(v, 0);
    expect(v[0]).toBe(threadId + 1);
    const first = v[1];
    spinUnlock(v, 0);
    expect(v[0]).toBe(0);
    spinLock(v, 0);
    expect(v[1]).not.toBe(first);
    spinUnlock(v, 0);
    expect(v[0]).toBe(0);
  });

  it('a worker terminated inside the section: the main thread takes the lock over after the bound', async () => {
    const v = memory();
    const holder = start('hold', v);
    await raised(v, 4);
    expect(v[0] & OWNER).toBe(holder.threadId + 1);
    await holder.terminate();
    // If the lock never let go, a rescuer frees it after 5 s, so this test fails instead of hanging.
    const rescuer = new Worker(
      `const { workerData: { sab } } = require('node:worker_threads');
       const v = new Int32Array(sab);
       if (Atomics.wait(v, 6, 0, 5000) === 'timed-out') { Atomics.store(v, 0, 0); Atomics.notify(v, 0); }`,
      { eval: true, workerData: { sab: v.buffer } },
    );
    const before = spinLockStats().steals;
    const t0 = performance.now();
    spinLock(v, 0);
    const took = performance.now() - t0;
    Atomics.store(v, 6, 1);
    Atomics.notify(v, 6);
    expect(spinLockStats().steals).toBe(before + 1);
    expect(v[0] & OWNER).toBe(threadId + 1);
    spinUnlock(v, 0);
    expect(v[0]).toBe(0);
    await new Promise((r) => rescuer.once('exit', r));
    expect(took).toBeGreaterThanOrEqual(SPIN_LOCK_STEAL_MS - 50);
    expect(took).toBeLessThan(SPIN_LOCK_STEAL_MS + 1500);
  });

  it('a holder stalled past the bound loses the lock: its late release leaves the new holder be', async () => {
    const v = memory();
    const staller = start('stall', v);
    const reply = answer<{ stats: { lostReleases: number }; word: number }>(staller);
    await raised(v, 4);
    spinLock(v, 0); // takes it over after the bound
    Atomics.store(v, 5, 1);
    Atomics.notify(v, 5);
    const { stats, word } = await reply; // the staller released while this thread held the lock
    expect(stats.lostReleases).toBe(1);
    expect(word & OWNER).toBe(threadId + 1);
    spinUnlock(v, 0);
    expect(v[0]).toBe(0);
  });

  it('gives mutual exclusion: 4 workers increment a plain slot under it for 300 ms, no update lost', async () => {
    const run = async (locked: boolean) => {
      const v = memory();
      const workers = Array.from({ length: 4 }, () => start('hammer', v, { ms: 300, locked }));
      const replies = workers.map((w) => answer<{ own: number; stats: { steals: number } }>(w));
      await new Promise((r) => setTimeout(r, 100)); // let them all reach the start line
      Atomics.store(v, 3, 1);
      Atomics.notify(v, 3);
      const answers = await Promise.all(replies);
      return {
        count: v[2],
        total: answers.reduce((a, r) => a + r.own, 0),
        steals: answers.reduce((a, r) => a + r.stats.steals, 0),
        word: v[0],
      };
    };
    const locked = await run(true);
    expect(locked.total).toBeGreaterThan(1000);
    expect(locked.count).toBe(locked.total);
    expect(locked.steals).toBe(0);
    expect(locked.word).toBe(0);
    // The control: the same increments without the lock do lose updates, so the check above can fail.
    const bare = await run(false);
    expect(bare.count).toBeLessThan(bare.total);
  });
});
