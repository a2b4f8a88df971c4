// Channel waits with a timeout settle by it whatever happened to the other side, and the channel
// recovers afterwards (issue 14: a sender killed while it streams a large message; issue 17:
// timed sends of messages larger than the ring, and a dead rendezvous receiver; issue 10: a thread
// killed while it holds the channel's producer lock; byte-ring.ts invariant 7: one killed while it
// holds the consumer lock).
import { Worker } from 'node:worker_threads';
import { Channel, recv, select, send, TimeoutError } from 'skein';
import { stallLimits } from 'skein/internal';
import { describe, expect, it } from 'vitest';
import { until } from '../fixtures/sync-run.js';

const OPS = new URL('../fixtures/channel-ops.mjs', import.meta.url);
const SENT = 97; // control-block slots (src/sync/channel/byte-ring.ts): messages published,
const PLOCK = 96; // the producer lock word (HELD = 1, STREAMING = 8)
const CLOCK = 128; // the consumer lock word (the holder's id, CLOCK_STREAM = 1 << 30 while it reads a stream)

/** Settles with the promise's outcome, or 'pending' if it has not settled within `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<{ value?: T; error?: unknown } | 'pending'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<'pending'>((r) => (timer = setTimeout(() => r('pending'), ms)));
  try {
    return await Promise.race([p.then((value) => ({ value }), (error: unknown) => ({ error })), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs `fn` with one stall limit at `ms`, then puts it back: `heldMs` for a holder of a lock
 * (byte-ring.ts invariant 7), `streamMs` for a streaming sender (invariant 4).
 */
async function withStallLimit(which: keyof typeof stallLimits, ms: number, fn: () => Promise<void>): Promise<void> {
  const saved = stallLimits[which];
  stallLimits[which] = ms;
  try {
    await fn();
  } finally {
    stallLimits[which] = saved;
  }
}

/** A worker streaming 'before', a 4 MiB Buffer and 'after' into `ch`, terminated once the big one has begun. */
async function killMidStream(ch: Channel<unknown>, recvBefore: boolean): Promise<void> {
  const w = new Worker(OPS, { workerData: { op: 'sendBig', ch, size: 4 << 20, sync: true } });
  w.on('error', () => {});
  const c = new Int32Array(ch.handle.sab, 0, 512);
  if (recvBefore) expect(await ch.recv({ timeout: 10_000 })).toEqual({ ok: true, value: 'before' });
  await until(() => Atomics.load(c, SENT) >= 2, 10_000, 'the stream to begin');
  await new Promise((r) => setTimeout(r, 50));
  await w.terminate();
}

describe('a channel whose peer died, or never came', () => {
  it('a receiver in the middle of a stream whose sender was killed is released by the stall limit: nothing taken, then the channel recovers', async () => {
    // It has read the FIRST chunk, so its own timeout no longer applies (byte-ring.ts invariant 8):
    // the stall watch cuts the dead sender, the receive drops the part and, its limit spent, times out.
    await withStallLimit('streamMs', 800, async () => {
      const ch = new Channel<unknown>({ capacity: 4, bytes: 4096 });
      await killMidStream(ch, true);
      const t0 = Date.now();
      const first = await within(ch.recv({ timeout: 300 }), 6000);
      expect(first).not.toBe('pending');
      expect((first as { error?: unknown }).error).toBeInstanceOf(TimeoutError);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(750);
      expect(Atomics.load(new Int32Array(ch.handle.sab, 0, 512), CLOCK)).toBe(0);
      expect(ch.trySend(7)).toBe(true);
      expect(await ch.recv({ timeout: 1000 })).toEqual({ ok: true, value: 7 });
      expect(ch.length).toBe(0);
    });
  });

  it('a sender blocked behind a killed streaming sender gets through once a receiver comes', async () => {
    const ch = new Channel<unknown>({ capacity: 4, bytes: 4096 });
    await killMidStream(ch, false);
    const sending = ch.send(1, { timeout: 8000 });
    expect(await ch.recv({ timeout: 8000 })).toEqual({ ok: true, value: 'before' });
    const got = await within(ch.recv({ timeout: 8000 }), 9000);
    expect(got).toEqual({ value: { ok: true, value: 1 } });
    await sending;
  });

  it('a holder of the producer lock that is not streaming is not taken for dead at the streams\' limit', async () => {
    // What a sender descheduled while it copies one message leaves: HELD, nothing published. Cutting
    // it would let the next producer write where it will resume writing (byte-ring.ts invariant 4).
    const ch = new Channel<unknown>({ capacity: 4, bytes: 4096 });
    const c = new Int32Array(ch.handle.sab, 0, 512);
    Atomics.store(c, PLOCK, 1);
    const r = await within(ch.send(1, { timeout: 2600 }), 6000); // past STREAM_STALL_MS (2000)
    expect((r as { error?: unknown }).error).toBeInstanceOf(TimeoutError);
    expect(Atomics.load(c, PLOCK)).toBe(1);
    Atomics.store(c, PLOCK, 0); // the holder resumes and releases
    expect(ch.trySend(2)).toBe(true);
    expect(await ch.recv({ timeout: 1000 })).toEqual({ ok: true, value: 2 });
  });

  it('a holder that is not streaming and stands still for HELD_STALL_MS is cut (killed while copying): sends go on', async () => {
    const ch = new Channel<unknown>({ capacity: 4, bytes: 4096 });
    const c = new Int32Array(ch.handle.sab, 0, 512);
    Atomics.store(c, PLOCK, 1);
    await withStallLimit('heldMs', 3000, async () => { // 30 s in earnest
      const t0 = Date.now();
      const r = await within(ch.send(4, { timeout: 10_000 }), 12_000);
      expect(r).toEqual({ value: undefined });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(2900);
      expect(await ch.recv({ timeout: 1000 })).toEqual({ ok: true, value: 4 });
      expect(Atomics.load(c, PLOCK)).toBe(0);
    });
  });

  it('a streaming holder that stands still with the ring empty is cut, and the next sender gets through', async () => {
    const ch = new Channel<unknown>({ capacity: 4, bytes: 4096 });
    const c = new Int32Array(ch.handle.sab, 0, 512);
    Atomics.store(c, PLOCK, 1 | 8);
    const t0 = Date.now();
    const r = await within(ch.send(3, { timeout: 8000 }), 9000);
    expect(r).toEqual({ value: undefined });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);
    expect(Atomics.load(c, PLOCK)).toBe(0);
    expect(await ch.recv({ timeout: 1000 })).toEqual({ ok: true, value: 3 });
  });

  it('a timed send larger than the ring, into an empty channel with no receiver, times out and leaves nothing', async () => {
    const ch = new Channel<unknown>({ capacity: 4, bytes: 4096 });
    const big = 'x'.repeat(100_000);
    const r = await within(ch.send(big, { timeout: 300 }), 3000);
    expect(r).not.toBe('pending');
    expect((r as { error?: unknown }).error).toBeInstanceOf(TimeoutError);
    const s = await within(select([send(ch, big)], { timeout: 300 }), 3000);
    expect((s as { error?: unknown }).error).toBeInstanceOf(TimeoutError);
    expect(ch.length).toBe(0);
    expect(ch.trySend(1)).toBe(true);
    expect(await ch.recv({ timeout: 1000 })).toEqual({ ok: true, value: 1 });
  });

  it('a dead rendezvous receiver does not take a large send: it times out', async () => {
    const ch = new Channel<unknown>({ capacity: 0, bytes: 4096 });
    const w = new Worker(OPS, { workerData: { op: 'recvTimeout', ch, timeout: 60_000 } });
    w.on('error', () => {});
    const c = new Int32Array(ch.handle.sab, 0, 512);
    await until(() => Atomics.load(c, 3) === 1, 10_000, 'the receiver to wait'); // WAITING
    await w.terminate();
    const r = await within(ch.send('y'.repeat(100_000), { timeout: 300 }), 3000);
    expect(r).not.toBe('pending');
    expect((r as { error?: unknown }).error).toBeInstanceOf(TimeoutError);
    // Its stream, begun for a counted receiver and never begun by one, held a census of WAITING
    // (byte-ring.ts invariant 9): the dead receiver is no longer counted, so a select no longer
    // commits to a large send case and takes its ready one.
    expect(Atomics.load(c, 3) & 0xffff).toBe(0); // WAITING's count
    const other = new Channel<number>({ capacity: 1 });
    expect(other.trySend(7)).toBe(true);
    expect(await select([send(ch, 'y'.repeat(100_000)), recv(other)], { timeout: 1000 })).toEqual({
      index: 1,
      ok: true,
      value: 7,
    });
  });

  it('a receiver killed while it decodes a message leaves the consumer lock held: other receivers free it after HELD_STALL_MS and get every message left', async () => {
    // Before byte-ring.ts invariant 7 the lock stayed held for good: recv() below timed out with 4
    // messages buffered (10 runs out of 10), and every later receive on every thread did too.
    await withStallLimit('heldMs', 1000, async () => { // 30 s in earnest
      const big = Array.from({ length: 20_000 }, (_, i) => ({ i, at: new Date(i) })); // v8.deserialize: ms under the lock
      const ch = new Channel<unknown>({ capacity: 4, bytes: 1 << 22 });
      const c = new Int32Array(ch.handle.sab, 0, 512);
      for (let attempt = 0; attempt < 5 && Atomics.load(c, CLOCK) === 0; attempt++) {
        const w = new Worker(OPS, { workerData: { op: 'consume', ch, sync: true } });
        w.on('error', () => {});
        const t0 = Date.now();
        while (Date.now() - t0 < 100 + 50 * attempt) {
          try {
            await ch.send(big, { timeout: 50 });
          } catch (err) {
            if (!(err instanceof TimeoutError)) throw err;
          }
        }
        await w.terminate();
      }
      expect(Atomics.load(c, CLOCK), 'a receiver killed inside its copy').not.toBe(0);
      const left = ch.length;
      expect(left).toBeGreaterThan(0);
      const t0 = Date.now();
      const first = await within(ch.recv({ timeout: 8000 }), 10_000);
      expect((first as { value?: { ok: boolean } }).value?.ok).toBe(true);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
      for (let k = 1; k < left; k++) expect((await ch.recv({ timeout: 1000 })).ok).toBe(true);
      expect(ch.length).toBe(0);
      expect(Atomics.load(c, CLOCK)).toBe(0);
      expect(ch.trySend(7)).toBe(true);
      expect(ch.tryRecv()).toEqual({ ok: true, value: 7 });
    });
  });

  it('a rendezvous send that gives up behind a dead receiver\'s consumer lock takes its message back, and does not block its thread for good', async () => {
    // Before: retract() waited for the lock with no limit, blocking the main thread for good.
    await withStallLimit('heldMs', 1000, async () => {
      const ch = new Channel<unknown>({ capacity: 0, bytes: 4096 });
      const c = new Int32Array(ch.handle.sab, 0, 512);
      Atomics.store(c, CLOCK, 0x12345); // what a receiver killed inside its copy leaves
      const t0 = Date.now();
      const r = await within(ch.send(1, { timeout: 200 }), 6000);
      expect((r as { error?: unknown }).error).toBeInstanceOf(TimeoutError);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
      expect(Atomics.load(c, CLOCK)).toBe(0);
      expect(ch.length).toBe(0);
      expect(ch.tryRecv()).toBeUndefined(); // taken back: nothing left to receive
    });
  });

  it('a consumer lock held by a receiver of a stream is not taken for dead (it may wait for chunks)', async () => {
    await withStallLimit('heldMs', 500, async () => {
      const ch = new Channel<unknown>({ capacity: 4, bytes: 4096 });
      const c = new Int32Array(ch.handle.sab, 0, 512);
      await ch.send(1);
      Atomics.store(c, CLOCK, (1 << 30) | 0x12345);
      const r = await within(ch.recv({ timeout: 1500 }), 5000);
      expect((r as { error?: unknown }).error).toBeInstanceOf(TimeoutError);
      expect(Atomics.load(c, CLOCK)).toBe((1 << 30) | 0x12345);
      Atomics.store(c, CLOCK, 0); // the stream's receiver ends it
      expect(await ch.recv({ timeout: 1000 })).toEqual({ ok: true, value: 1 });
    });
  });

  it('select and tryRecv polls watch a dead lock holder too: a select send gets past a dead producer, a select receive and a poll past a dead receiver', async () => {
    // Before, only send() and recv() watched: select([send(ch, v)]) behind a producer killed while it
    // copied one message timed out however long it waited, and so did select([recv(ch)]) or a
    // tryRecv() loop behind a dead receiver.
    await withStallLimit('heldMs', 1000, async () => {
      const a = new Channel<unknown>({ capacity: 4, bytes: 4096 });
      const ca = new Int32Array(a.handle.sab, 0, 512);
      Atomics.store(ca, PLOCK, 1); // HELD, not streaming: killed while copying one message
      const sent = await within(select([send(a, 'x')], { timeout: 6000 }), 8000);
      expect(sent).toEqual({ value: { index: 0, ok: true } });
      expect(await a.recv({ timeout: 1000 })).toEqual({ ok: true, value: 'x' });

      const b = new Channel<unknown>({ capacity: 4, bytes: 4096 });
      const cb = new Int32Array(b.handle.sab, 0, 512);
      await b.send(1);
      await b.send(2);
      Atomics.store(cb, CLOCK, 0x12345); // killed while copying one message
      const got = await within(select([recv(b)], { timeout: 6000 }), 8000);
      expect(got).toEqual({ value: { index: 0, ok: true, value: 1 } });

      Atomics.store(cb, CLOCK, 0x12345);
      const t0 = Date.now();
      let polled: unknown;
      while (polled === undefined && Date.now() - t0 < 6000) {
        polled = b.tryRecv();
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(polled).toEqual({ ok: true, value: 2 });
    });
  });
});
