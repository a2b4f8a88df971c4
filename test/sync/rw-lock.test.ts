// RwLock: readers together, writers alone, writers not starved; timeouts and aborts leave it
// usable; a fast-check model of its try-operations and waiting writers; real workers hammering it.
import fc from 'fast-check';
import { AbortError, FixedWorkerPool, type Guard, RwLock, TimeoutError } from 'skein';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { until } from '../fixtures/sync-run.js';

const TASKS = new URL('../fixtures/sync-locks-tasks.mjs', import.meta.url);

describe('RwLock', () => {
  it('a writer terminated while it waits holds readers back only until its beat is stale (R5)', async () => {
    const l = new RwLock();
    const held = await l.read();
    const worker = new Worker(new URL('../fixtures/dead-waiter.mjs', import.meta.url), { workerData: { op: 'rwWriteSync', obj: l } });
    try {
      // Waiting: it counts itself in WRITERS, so a new reader is held back.
      await until(() => {
        const g = l.tryRead();
        g?.release();
        return g === undefined;
      }, 10_000, 'the writer to wait');
      const waiting = l.read({ timeout: 5000 }); // held back by the writer, looks again while it waits
      await worker.terminate(); // never takes its count back
      const t0 = performance.now();
      (await waiting).release();
      // Before R5 this read timed out: WRITERS stayed 1 for good and no reader ever entered again.
      expect(performance.now() - t0).toBeLessThan(3000);
      held.release();
      (await l.read({ timeout: 3000 })).release();
      (await l.write({ timeout: 3000 })).release(); // writers are not affected
    } finally {
      await worker.terminate();
    }
  });

  it('lets readers in together and a writer in alone', async () => {
    const l = new RwLock();
    const r1 = await l.read();
    const r2 = l.tryRead() as Guard;
    expect(r2).toBeDefined();
    expect(l.readers).toBe(2);
    expect(l.tryWrite()).toBeUndefined();
    r1.release();
    r1.release(); // twice: a no-op
    expect(l.readers).toBe(1);
    r2.release();
    const w = l.tryWrite() as Guard;
    expect(l.writeLocked).toBe(true);
    expect(l.tryRead()).toBeUndefined();
    expect(l.tryWrite()).toBeUndefined();
    w[Symbol.dispose]();
    expect(l.writeLocked).toBe(false);
  });

  it('a waiting writer holds new readers back, then gets the lock when the readers leave', async () => {
    const l = new RwLock();
    const r = await l.read();
    let wrote = false;
    const w = l.write().then((g) => {
      wrote = true;
      return g;
    });
    await new Promise((res) => setTimeout(res, 10));
    expect(wrote).toBe(false);
    expect(l.tryRead()).toBeUndefined(); // writer preference
    const laterReader = l.read();
    r.release();
    const g = await w;
    expect(l.writeLocked).toBe(true);
    g.release();
    (await laterReader).release();
  });

  it('a writer that times out or is aborted lets held-back readers in, holding nothing', async () => {
    const l = new RwLock();
    const r = await l.read();
    expect(await l.write({ timeout: 20 }).catch((e: unknown) => e)).toBeInstanceOf(TimeoutError);
    expect(l.tryRead()).toBeDefined();
    const ac = new AbortController();
    const w = l.write({ signal: ac.signal });
    const blocked = l.read();
    ac.abort();
    expect(await w.catch((e: unknown) => e)).toBeInstanceOf(AbortError);
    (await blocked).release();
    r.release();
    expect(l.readers).toBe(1); // the tryRead guard above, never released
  });

  it('an already-aborted signal rejects write()/writeSync() even on a free lock, as read() does', async () => {
    const l = new RwLock();
    const signal = AbortSignal.abort();
    // Before the fix the writer's fast path took the free lock without looking at the signal.
    expect(await l.write({ signal }).catch((e: unknown) => e)).toBeInstanceOf(AbortError);
    expect(() => l.writeSync({ signal })).toThrow(AbortError);
    expect(await l.read({ signal }).catch((e: unknown) => e)).toBeInstanceOf(AbortError);
    expect(l.writeLocked).toBe(false);
    expect(l.readers).toBe(0);
    (await l.write()).release();
  });

  it('behaves as a model of readers, a writer and waiting writers (property)', async () => {
    type Op = { k: 'tryRead' } | { k: 'tryWrite' } | { k: 'release'; i: number } | { k: 'pend' } | { k: 'abort' };
    const op = fc.oneof(
      fc.constant<Op>({ k: 'tryRead' }),
      fc.constant<Op>({ k: 'tryWrite' }),
      fc.nat(7).map<Op>((i) => ({ k: 'release', i })),
      fc.constant<Op>({ k: 'pend' }),
      fc.constant<Op>({ k: 'abort' }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const l = new RwLock();
        const held: { g: Guard; write: boolean }[] = [];
        let pending: { p: Promise<Guard | Error>; ac: AbortController } | undefined;
        const m = { readers: 0, writer: false };
        const settlePending = async (): Promise<void> => {
          // The lock fell free with a writer waiting: it must get it.
          if (pending && !m.writer && m.readers === 0) {
            const g = await pending.p;
            expect(g).not.toBeInstanceOf(Error);
            held.push({ g: g as Guard, write: true });
            m.writer = true;
            pending = undefined;
          }
        };
        for (const o of ops) {
          if (o.k === 'tryRead') {
            const g = l.tryRead();
            expect(!!g).toBe(!m.writer && !pending);
            if (g) {
              held.push({ g, write: false });
              m.readers++;
            }
          } else if (o.k === 'tryWrite') {
            const g = l.tryWrite();
            expect(!!g).toBe(!m.writer && m.readers === 0);
            if (g) {
              held.push({ g, write: true });
              m.writer = true;
            }
          } else if (o.k === 'release' && held.length > 0) {
            const [h] = held.splice(o.i % held.length, 1);
            h.g.release();
            if (h.write) m.writer = false;
            else m.readers--;
            await settlePending();
          } else if (o.k === 'pend' && !pending) {
            const ac = new AbortController();
            pending = { ac, p: l.write({ signal: ac.signal }).catch((e: Error) => e) };
            await settlePending();
          } else if (o.k === 'abort' && pending) {
            pending.ac.abort();
            expect(await pending.p).toBeInstanceOf(AbortError);
            pending = undefined;
          }
          expect(l.readers).toBe(m.readers);
          expect(l.writeLocked).toBe(m.writer);
        }
        if (pending) {
          pending.ac.abort();
          await pending.p;
        }
      }),
      { numRuns: 150 },
    );
  });

  it('keeps writers alone and readers consistent across real workers', async () => {
    const lock = new RwLock();
    const data = new Int32Array(new SharedArrayBuffer(8));
    const stats = new Int32Array(new SharedArrayBuffer(8));
    const pool = new FixedWorkerPool(4, { filename: TASKS });
    try {
      const iters = 400;
      const torn = await Promise.all(
        [true, true, false, false].map((writer) => pool.submit<number>({ lock, data, stats, iters, writer }, { fn: 'rw' })),
      );
      expect(torn).toEqual([0, 0, 0, 0]);
      // Each writer task writes on every 4th iteration.
      expect(data[0]).toBe(2 * (iters / 4));
      expect(data[1]).toBe(data[0]);
      expect(lock.readers).toBe(0);
      expect(lock.writeLocked).toBe(false);
    } finally {
      await pool.close();
    }
  });
});
