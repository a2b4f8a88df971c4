// Inputs sent with a transfer list that is their own buffer: small ones move to the pool and ride
// the rings as bytes (no copy, no postMessage, each arrives as the kind it was); large ones still
// move by postMessage; a refused submit leaves the caller's buffer alone.
import { Worker } from 'node:worker_threads';
import { QueueFullError, WorkerPool } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../fixtures/pool-helpers.js';

const TASKS = new URL('../fixtures/pool-tasks.mjs', import.meta.url);
const pools: WorkerPool[] = [];
function make(opts: Partial<ConstructorParameters<typeof WorkerPool>[0]> = {}): WorkerPool {
  const p = new WorkerPool({ filename: TASKS, maxWorkers: 1, ...opts });
  pools.push(p);
  return p;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close({ force: true })));
});

/** Counts the task messages the main thread posts to workers while `fn` runs. */
async function taskPosts<T>(fn: () => Promise<T>): Promise<{ result: T; posts: number }> {
  let posts = 0;
  const original = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (this: Worker, msg: unknown, transfer?: never) {
    if ((msg as { type?: string }).type === 'task') posts++;
    return original.call(this, msg, transfer);
  };
  try {
    return { result: await fn(), posts };
  } finally {
    Worker.prototype.postMessage = original;
  }
}

type Kind = { kind: string; len: number; sum: number };

describe('inputs sent with their own buffer as the transfer list', () => {
  it('small ones ride the rings, detach the sender, and arrive as the kind they were', async () => {
    const pool = make();
    await until(() => pool.getHealthStatus().some((h) => h.ready));
    const u8 = new Uint8Array(100).fill(1);
    const buf = Buffer.from(new Uint8Array(64).fill(2).buffer); // its own buffer, not Node's pool
    const ab = new Uint8Array(32).fill(3).buffer;
    const { result, posts } = await taskPosts(() =>
      Promise.all([
        pool.submit<Kind>(u8, { fn: 'bytesKind', transfer: [u8.buffer] }),
        pool.submit<Kind>(buf, { fn: 'bytesKind', transfer: [buf.buffer] }),
        pool.submit<Kind>(ab, { fn: 'bytesKind', transfer: [ab] }),
      ]),
    );
    expect(result).toEqual([
      { kind: 'Uint8Array', len: 100, sum: 100 },
      { kind: 'Buffer', len: 64, sum: 128 }, // postMessage would have made it a Uint8Array
      { kind: 'ArrayBuffer', len: 32, sum: 96 },
    ]);
    expect(posts).toBe(0);
    expect([u8.byteLength, buf.byteLength, ab.byteLength]).toEqual([0, 0, 0]); // moved, as postMessage leaves them
  });

  it('a view into part of a buffer arrives as that part', async () => {
    const pool = make();
    const whole = new Uint8Array(256).map((_, i) => i);
    const part = whole.subarray(10, 20);
    expect(await pool.submit<Kind>(part, { fn: 'bytesKind', transfer: [whole.buffer] })).toEqual({
      kind: 'Uint8Array',
      len: 10,
      sum: 145,
    });
    expect(whole.byteLength).toBe(0);
  });

  it('large ones still move by postMessage, zero-copy, and arrive whole', async () => {
    const pool = make();
    await until(() => pool.getHealthStatus().some((h) => h.ready));
    const big = new Uint8Array(8 << 20).fill(1);
    const { result, posts } = await taskPosts(() => pool.submit<Kind>(big, { fn: 'bytesKind', transfer: [big.buffer] }));
    expect(result).toEqual({ kind: 'Uint8Array', len: 8 << 20, sum: 8 << 20 });
    expect(posts).toBe(1);
    expect(big.byteLength).toBe(0);
  });

  it('a submit refused at the door keeps the caller its buffer', async () => {
    const pool = make({ maxQueue: 1 });
    const blockers = [pool.submit(300, { fn: 'sleep' }), pool.submit(300, { fn: 'sleep' })];
    await until(() => pool.getQueueLength() >= 1);
    const u8 = new Uint8Array(16).fill(5);
    const refused = await pool.submit(u8, { fn: 'bytesKind', transfer: [u8.buffer] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(QueueFullError);
    expect(u8.byteLength).toBe(16);
    await Promise.all(blockers);
  });
});
