// Shared memory crosses once (issue 10 item 4, src/pool/main/sab-shipper.ts): a task input holding
// shared objects, typed arrays over SharedArrayBuffers or raw SharedArrayBuffers rides the rings;
// each buffer is posted to each worker once, not once per task.
import { Worker } from 'node:worker_threads';
import { Channel, Semaphore, WorkerPool } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { CountedBox } from '../fixtures/counted-kind.mjs';
import { until, within } from '../fixtures/pool-helpers.js';

const FILE = new URL('../fixtures/pool-sab-tasks.mjs', import.meta.url);
const pools: WorkerPool[] = [];
function make(opts: Partial<ConstructorParameters<typeof WorkerPool>[0]> = {}): WorkerPool {
  const p = new WorkerPool({ filename: FILE, ...opts });
  pools.push(p);
  return p;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close({ force: true })));
});

/** Counts the messages the main thread posts to workers, by type, while `fn` runs. */
async function countPosts<T>(fn: () => Promise<T>): Promise<{ result: T; posts: Map<string, number> }> {
  const posts = new Map<string, number>();
  const original = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (this: Worker, msg: unknown, transfer?: never) {
    const type = (msg as { type?: string }).type ?? 'init';
    posts.set(type, (posts.get(type) ?? 0) + 1);
    return original.call(this, msg, transfer);
  };
  try {
    return { result: await fn(), posts };
  } finally {
    Worker.prototype.postMessage = original;
  }
}

type Touch = { thread: number; kinds: string[]; took: boolean; sent: boolean; same: boolean };

describe('shared memory in task inputs', () => {
  it('tasks holding a Channel, a Semaphore, a typed array and a raw SAB reach every worker through the rings, each buffer posted to each worker once', async () => {
    const workers = 3;
    const n = 600;
    const sem = new Semaphore(1);
    const ch = new Channel<number>({ capacity: n });
    const counts = new Int32Array(new SharedArrayBuffer(8));
    const raw = new SharedArrayBuffer(8);
    const { result: out, posts } = await countPosts(async () => {
      const pool = make({ maxWorkers: workers });
      await until(() => pool.getHealthStatus().filter((h) => h.ready).length === workers);
      return within(
        Promise.all(
          Array.from({ length: n }, (_, i) => pool.submit<Touch>({ i, sem, ch, counts, raw }, { fn: 'touch' })),
        ),
        20_000,
        'shared tasks',
      );
    });
    expect(new Set(out.map((r) => r.kinds.join()))).toEqual(new Set(['Semaphore,Channel,Int32Array']));
    expect(out.every((r) => r.same)).toBe(true); // identity kept across tasks in each worker
    expect(out.every((r) => r.sent)).toBe(true);
    expect(counts[0]).toBe(n);
    expect(new Int32Array(raw)[0]).toBe(n);
    expect(sem.available).toBe(1);
    expect(ch.length).toBe(n);
    // No task went by message; buffers went at most once per worker (in one 'sabs' message each, or
    // in the init of a worker that started after the first shipment).
    expect(posts.get('task') ?? 0).toBe(0);
    expect(posts.get('sabs') ?? 0).toBeLessThanOrEqual(workers);
    // Spread over the workers: a task bound to one worker by message could not show this with
    // every worker running from the same rings.
    expect(new Set(out.map((r) => r.thread)).size).toBeGreaterThan(1);
  });

  it('a task that returns the typed array it got hands back the same memory, through the result ring', async () => {
    const pool = make({ maxWorkers: 1 });
    const arr = new Int32Array(new SharedArrayBuffer(16));
    const { result: back, posts } = await countPosts(() =>
      within(pool.submit<Int32Array>({ arr, at: 2, v: 42 }, { fn: 'writeBack' }), 5000, 'writeBack'),
    );
    expect(back).toBeInstanceOf(Int32Array);
    expect(back.buffer).toBe(arr.buffer); // this thread's own SharedArrayBuffer object
    expect(arr[2]).toBe(42);
    back[3] = 9;
    expect(arr[3]).toBe(9);
    expect(posts.get('task') ?? 0).toBe(0);
  });

  it('a result holding a buffer made in the worker still arrives (by message)', async () => {
    const pool = make({ maxWorkers: 1 });
    const a = await within(pool.submit<Int32Array>(4, { fn: 'fresh' }), 5000, 'fresh');
    expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect([...a]).toEqual([7, 7, 7, 7]);
  });

  it('a respawned worker gets the buffers again (in its init), and tasks holding them run there', async () => {
    const pool = make({ maxWorkers: 1 });
    const sem = new Semaphore(3);
    const ch = new Channel<number>({ capacity: 8 });
    const counts = new Int32Array(new SharedArrayBuffer(8));
    const raw = new SharedArrayBuffer(8);
    const input = (i: number) => ({ i, sem, ch, counts, raw });
    const first = await within(pool.submit<Touch>(input(1), { fn: 'touch' }), 5000, 'first touch');
    await expect(pool.submit(1, { fn: 'exit' })).rejects.toThrow(/exited with code 1/);
    await until(() => pool.getHealthStatus().some((h) => h.ready && h.workerId !== undefined));
    const { result: second, posts } = await countPosts(() =>
      within(pool.submit<Touch>(input(2), { fn: 'touch' }), 5000, 'touch after respawn'),
    );
    expect(second.thread).not.toBe(first.thread);
    expect(second.same).toBe(true);
    expect(counts[0]).toBe(2);
    expect(new Int32Array(raw)[0]).toBe(2);
    expect((await ch.recv()).ok && (await ch.recv()).ok).toBe(true);
    // Already shipped once: the new worker had them from its init, nothing was posted again.
    expect(posts.get('sabs') ?? 0).toBe(0);
    expect(posts.get('task') ?? 0).toBe(0);
  });

  it('a shared object in every task is checked and built once per worker, and once again in a respawned worker', async () => {
    type Checks = { thread: number; checks: number; same: boolean; kind: string };
    const pool = make({ maxWorkers: 1 });
    const box = new CountedBox(4);
    const first = await within(
      Promise.all(Array.from({ length: 300 }, () => pool.submit<Checks>({ box }, { fn: 'checks' }))),
      10_000,
      'checks',
    );
    expect(new Set(first.map((r) => r.thread)).size).toBe(1);
    expect(first.every((r) => r.kind === 'CountedBox' && r.same && r.checks === 1)).toBe(true);
    await expect(pool.submit(1, { fn: 'exit' })).rejects.toThrow(/exited with code 1/);
    await until(() => pool.getHealthStatus().some((h) => h.ready));
    const { result: second, posts } = await countPosts(() =>
      within(
        Promise.all(Array.from({ length: 100 }, () => pool.submit<Checks>({ box }, { fn: 'checks' }))),
        10_000,
        'checks after respawn',
      ),
    );
    expect(second[0].thread).not.toBe(first[0].thread);
    expect(second.every((r) => r.kind === 'CountedBox' && r.same && r.checks === 1)).toBe(true);
    expect(posts.get('sabs') ?? 0).toBe(0); // its buffer came with the new worker's init
    expect(posts.get('task') ?? 0).toBe(0);
  });

  it('views at different offsets of one buffer (a subarray among them) and different shared objects arrive as themselves', async () => {
    const pool = make({ maxWorkers: 2 });
    const sab = new SharedArrayBuffer(256);
    const whole = new Int32Array(sab);
    const views = [whole, whole.subarray(10, 20), new Int32Array(sab, 128, 4), new Float64Array(sab, 192, 2)];
    const a = new Semaphore(1);
    const b = new Semaphore(2);
    const objs = [a, b, new CountedBox(1), a];
    const out = await within(
      Promise.all(
        Array.from({ length: 40 }, () =>
          pool.submit<{ views: unknown[]; objs: unknown[]; distinct: number }>({ views, objs }, { fn: 'describe' }),
        ),
      ),
      10_000,
      'describe',
    );
    for (const r of out) {
      expect(r.views).toEqual([
        ['Int32Array', 0, 256, true],
        ['Int32Array', 40, 40, true],
        ['Int32Array', 128, 16, true],
        ['Float64Array', 192, 16, true],
      ]);
      expect(r.objs).toEqual(objs.map((o) => [o.constructor.name, o.handle.id]));
      expect(r.distinct).toBe(3);
    }
    await within(pool.submit({ views: views.slice(0, 3), v: 50 }, { fn: 'writeEach' }), 5000, 'writeEach');
    expect([whole[0], whole[10], whole[32]]).toEqual([50, 51, 52]);
  });

  it('buffers first met while a worker is starting reach it too', async () => {
    const pool = make({ maxWorkers: 2 });
    const counts = new Int32Array(new SharedArrayBuffer(4));
    // Submitted at once, before any worker is ready: shipped to starting workers by message.
    const outs = await within(
      Promise.all(Array.from({ length: 50 }, (_, i) => pool.submit({ i, sem: new Semaphore(1), ch: new Channel({ capacity: 1 }), counts, raw: counts.buffer }, { fn: 'touch' }))),
      10_000,
      'touch while starting',
    );
    expect(outs).toHaveLength(50);
    expect(counts[0]).toBe(100); // counts and raw are the same buffer here
  });
});
