// Shared memory crosses once (issue 10 item 4, src/pool/main/sab-shipper.ts): a task input holding
// shared objects, typed arrays over SharedArrayBuffers or raw SharedArrayBuffers rides the rings;
// each buffer is posted to each worker once, not once per task.
import { Worker } from 'node:worker_threads';
import { Channel, Semaphore, WorkerPool } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
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
