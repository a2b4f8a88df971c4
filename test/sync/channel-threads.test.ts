import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Channel, Semaphore } from 'skein';
import { describe, expect, it } from 'vitest';
import { runOp } from '../fixtures/channel-helpers.js';

/** [producer, index] of a message made by `message()` in channel-ops.mjs. */
function origin(v: unknown): [number, number] {
  if (typeof v === 'number') return [Math.floor(v / 1_000_000), v % 1_000_000];
  if (typeof v === 'string') {
    const [p, i] = v.slice(1).split(':');
    return [Number(p), Number(i)];
  }
  if (v instanceof Uint8Array) return [v[0], v[1] | (v[2] << 8)];
  const o = v as { p: number; i: number };
  return [o.p, o.i];
}

/** Every (producer, index) exactly once over all consumers, and each consumer saw each producer in order. */
function checkDelivery(perConsumer: unknown[][], producers: number[], count: number): void {
  const seen = new Map<number, Set<number>>(producers.map((p) => [p, new Set()]));
  for (const got of perConsumer) {
    const last = new Map<number, number>();
    for (const v of got) {
      const [p, i] = origin(v);
      const s = seen.get(p);
      expect(s, `unknown producer ${p}`).toBeDefined();
      expect(s?.has(i), `duplicate ${p}:${i}`).toBe(false);
      s?.add(i);
      expect(i, `producer ${p} out of order`).toBeGreaterThan(last.get(p) ?? -1);
      last.set(p, i);
    }
  }
  for (const [p, s] of seen) expect(s.size, `producer ${p} lost messages`).toBe(count);
}

describe('Channel across worker threads', () => {
  it('3 producer workers + 3 consumer workers + main: every value exactly once, per-producer FIFO', async () => {
    for (const kind of ['int', 'mixed']) {
      const ch = new Channel<unknown>({ capacity: 16, bytes: 4096 });
      const count = kind === 'int' ? 20_000 : 5_000;
      const producers = [1, 2, 3].map((id) => runOp('produce', { ch, id, count, kind, sync: id !== 2 }));
      const consumers = [0, 1, 2].map((k) => runOp<unknown[]>('consume', { ch, sync: k !== 1 }));
      // main produces as producer 4 and consumes alongside the workers
      const mainGot: unknown[] = [];
      const mainConsumer = (async () => {
        for (;;) {
          const r = await ch.recv();
          if (!r.ok) return;
          mainGot.push(r.value);
        }
      })();
      for (let i = 0; i < count; i++) {
        await ch.send(kind === 'int' ? 4_000_000 + i : { p: 4, i, tags: ['m'] });
      }
      await Promise.all(producers);
      ch.close();
      const got = await Promise.all(consumers);
      await mainConsumer;
      checkDelivery([...got, mainGot], [1, 2, 3, 4], count);
      expect(ch.length).toBe(0);
    }
  });

  it('a worker blocked in recvSync times out with TimeoutError and leaves the channel usable', async () => {
    const ch = new Channel<number>({ capacity: 1 });
    expect(await runOp('recvTimeout', { ch, timeout: 30 })).toBe('TimeoutError');
    await ch.send(5);
    expect(await runOp('recvTimeout', { ch, timeout: 1000 })).toEqual({ ok: true, value: 5 });
  });

  it('rendezvous: trySend hands a message to a worker waiting in recvSync', async () => {
    const ch = new Channel<number>({ capacity: 0 });
    const p = runOp('recvTimeout', { ch, timeout: 10_000 });
    let tries = 0;
    while (!ch.trySend(5)) {
      tries++;
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(await p).toEqual({ ok: true, value: 5 });
    expect(tries).toBeLessThan(2000);
    expect(ch.length).toBe(0);
  });

  it('close wakes a worker blocked in recvSync', async () => {
    const ch = new Channel<number>({ capacity: 1 });
    const p = runOp('recvTimeout', { ch, timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 50));
    ch.close();
    expect(await p).toEqual({ ok: false });
  });

  it('16 MiB messages cross a 4 KiB channel in order, both ways', async () => {
    const size = 16 * 1024 * 1024;
    const toMain = new Channel<unknown>({ capacity: 2, bytes: 4096 });
    const sender = runOp('sendBig', { ch: toMain, size, sync: true });
    expect(await toMain.recv()).toEqual({ ok: true, value: 'before' });
    const r = await toMain.recv();
    const big = r.ok ? (r.value as Buffer) : Buffer.alloc(0);
    expect(big.length).toBe(size);
    let bad = 0;
    for (let i = 0; i < size; i++) if (big[i] !== i % 251) bad++;
    expect(bad).toBe(0);
    expect(await toMain.recv()).toEqual({ ok: true, value: 'after' });
    await sender;

    const toWorker = new Channel<unknown>({ capacity: 2, bytes: 4096 });
    const receiver = runOp<unknown[]>('recvN', { ch: toWorker, n: 3 });
    const out = Buffer.alloc(size);
    for (let i = 0; i < size; i++) out[i] = i % 251;
    await toWorker.send('before');
    await toWorker.send(out);
    await toWorker.send('after');
    expect(await receiver).toEqual(['before', [size, true], 'after']);
  });

  it('close in the middle of a streamed message: the sender throws, receivers drop the part', async () => {
    const ch = new Channel<unknown>({ capacity: 4, bytes: 4096 });
    const sender = runOp('sendBigReport', { ch, size: 1 << 20 });
    // wait until the first chunk is in (the ring is full), then close
    while (ch.length === 0) await new Promise((r) => setTimeout(r, 5));
    ch.close();
    expect(await sender).toBe('ChannelClosedError');
    expect(await ch.recv({ timeout: 5000 })).toEqual({ ok: false });
    expect(ch.length).toBe(0);
  });

  it('an iterator closed while its receive is in the middle of a large message finishes it: the channel is not left locked', async () => {
    // Before, return() aborted the receive there; it kept the consumer lock and its part for this
    // thread's next receive, which never came: the worker's receive below timed out, and the
    // sender waited for room for good.
    const ch = new Channel<unknown>({ capacity: 4, bytes: 4096 });
    const c = new Int32Array(ch.handle.sab, 0, 512);
    const size = 64 << 20;
    const sender = runOp('sendBig', { ch, size, sync: true });
    const it = ch[Symbol.asyncIterator]();
    expect(await it.next()).toEqual({ value: 'before', done: false });
    const pending = it.next();
    while (Atomics.load(c, 97) < 2) await new Promise((r) => setTimeout(r, 1)); // SENT: the big one began
    await new Promise((r) => setTimeout(r, 10));
    expect(Atomics.load(c, 128) & (1 << 30), 'the receive is inside the stream (CLOCK_STREAM)').not.toBe(0);
    await it.return?.();
    const r = await pending;
    expect(r.done).toBe(false);
    expect((r.value as Uint8Array).length).toBe(size);
    expect(await sender).toBe(size);
    expect(await runOp('recvTimeout', { ch, timeout: 5000 })).toEqual({ ok: true, value: 'after' });
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  it('a Semaphore inside a message arrives in the worker as the same live Semaphore', async () => {
    const ch = new Channel<{ sem: Semaphore }>({ capacity: 2 });
    const sem = new Semaphore(5);
    const worker = runOp('takePermits', { ch, take: 2 });
    await ch.send({ sem });
    expect(await worker).toBe(3);
    expect(sem.available).toBe(3);
    // sent before the worker holding the channel even existed: the side channel re-sends on request
    const late = new Channel<{ sem: Semaphore }>({ capacity: 2 });
    const sem2 = new Semaphore(4);
    await late.send({ sem: sem2 });
    expect(await runOp('takePermits', { ch: late, take: 1 })).toBe(3);
    expect(sem2.available).toBe(3);
  });

  it('leaves nothing open: a process that used channels exits by itself', async () => {
    const script = fileURLToPath(new URL('../fixtures/channel-exit.mjs', import.meta.url));
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [script], { timeout: 15_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
      ),
    );
    expect(out.trim()).toBe('done 7');
  });

  it('a shared object sent by a thread that then let go of its channel still reaches a later receiver (it threw after 5 s)', async () => {
    const script = fileURLToPath(new URL('../fixtures/channel-sender-gone.mjs', import.meta.url));
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--expose-gc', script], { timeout: 20_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
      ),
    );
    expect(JSON.parse(out)).toEqual({ ok: true, available: 3 });
  });
});
