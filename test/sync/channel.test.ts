import {
  AbortError,
  Channel,
  ChannelClosedError,
  CorruptMemoryError,
  InvalidArgumentError,
  pendingAsyncWaitCount,
  SerializationError,
  TAG_BYTES,
  TimeoutError,
} from 'skein/internal';
import { describe, expect, it } from 'vitest';
import { sleep } from '../fixtures/channel-helpers.js';

/** Control-block slots (src/sync/channel/byte-ring.ts) the tests look at. */
const SENT = 97;
const PLOCK = 96;
const RECVD = 65;
const CLOCK = 128;
const DATA_OFFSET = 2048;

function ctrl(ch: Channel<unknown>): Int32Array {
  return new Int32Array(ch.handle.sab, 0, 512);
}

/** No lock held, and SENT - RECVD equals the visible length: nothing left behind. */
function expectClean(ch: Channel<unknown>, length: number): void {
  const c = ctrl(ch);
  expect(Atomics.load(c, PLOCK) & 1).toBe(0);
  expect(Atomics.load(c, CLOCK)).toBe(0);
  expect((Atomics.load(c, SENT) - Atomics.load(c, RECVD)) | 0).toBe(length);
  expect(ch.length).toBe(length);
}

describe('Channel', () => {
  it('refuses a producer lock word no producer writes, with CorruptMemoryError, instead of spinning on it', async () => {
    // Found by the X.from() fuzz: such a word never frees, yet the sender's wait saw it free.
    for (const word of [16, 8, 1 << 20]) {
      const ch = new Channel<unknown>({ capacity: 2 });
      Atomics.store(ctrl(ch), PLOCK, word);
      expect(() => ch.trySend(1)).toThrow(CorruptMemoryError);
      await expect(ch.send(1, { timeout: 50 })).rejects.toThrow(CorruptMemoryError);
    }
  });

  it('carries every codec shape through, in order', async () => {
    const ch = new Channel<unknown>({ capacity: 32 });
    const values: unknown[] = [
      0,
      -1,
      2 ** 31 - 1,
      -0,
      1.5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      'héllo ✓ 😀',
      '',
      true,
      false,
      null,
      undefined,
      new Uint8Array([1, 2, 3]),
      Buffer.from('buf'),
      new Uint8Array([9, 8]).buffer,
      { a: 1, b: [1, 'two', { c: null }] },
      [1, 2, 3],
      new Map([[1, 'x']]),
      new Set(['s']),
      new Date(5),
      10n ** 30n,
      'x'.repeat(70_000),
    ];
    for (const v of values) await ch.send(v);
    expect(ch.length).toBe(values.length);
    for (const v of values) {
      const r = await ch.recv();
      expect(r.ok).toBe(true);
      if (r.ok) expect(r.value).toEqual(v);
      if (r.ok && Object.is(v, -0)) expect(Object.is(r.value, -0)).toBe(true);
      if (r.ok && Buffer.isBuffer(v)) expect(Buffer.isBuffer(r.value)).toBe(true);
    }
    expectClean(ch, 0);
  });

  it('rejects bad capacities and ring sizes with InvalidArgumentError', () => {
    for (const capacity of [-1, 1.5, Number.NaN, '3', undefined, 2 ** 31]) {
      expect(() => new Channel({ capacity } as never)).toThrow(InvalidArgumentError);
    }
    expect(() => new Channel(undefined as never)).toThrow(InvalidArgumentError);
    expect(() => new Channel({ capacity: 1, bytes: 0 })).toThrow(InvalidArgumentError);
    expect(() => new Channel({ capacity: 1, bytes: 2 ** 31 })).toThrow(InvalidArgumentError);
    expect(new Channel({ capacity: 0 }).capacity).toBe(0);
    expect(new Channel({ capacity: 3 }).capacity).toBe(3);
    // bytes round up to a power of two, at least 64
    expect(new Channel({ capacity: 1, bytes: 100 }).handle.sab.byteLength).toBe(DATA_OFFSET + 128 + TAG_BYTES);
    expect(new Channel({ capacity: 1, bytes: 1 }).handle.sab.byteLength).toBe(DATA_OFFSET + 64 + TAG_BYTES);
  });

  it('counts messages against capacity: trySend is false when full, tryRecv undefined when empty', () => {
    const ch = new Channel<number>({ capacity: 2 });
    expect(ch.tryRecv()).toBeUndefined();
    expect(ch.trySend(1)).toBe(true);
    expect(ch.trySend(2)).toBe(true);
    expect(ch.trySend(3)).toBe(false);
    expect(ch.length).toBe(2);
    expect(ch.tryRecv()).toEqual({ ok: true, value: 1 });
    expect(ch.trySend(3)).toBe(true);
    expect(ch.tryRecv()).toEqual({ ok: true, value: 2 });
    expect(ch.tryRecv()).toEqual({ ok: true, value: 3 });
    expect(ch.tryRecv()).toBeUndefined();
  });

  it('is full by bytes too: a message that does not fit waits for room', async () => {
    const ch = new Channel<string>({ capacity: 100, bytes: 256 });
    expect(ch.trySend('a'.repeat(200))).toBe(true);
    expect(ch.trySend('b'.repeat(100))).toBe(false);
    const p = ch.send('b'.repeat(100));
    await sleep(10);
    expect(ch.length).toBe(1);
    expect((await ch.recv()).ok).toBe(true);
    await p;
    expect(await ch.recv()).toEqual({ ok: true, value: 'b'.repeat(100) });
  });

  it('close: receivers drain, then get { ok: false }; sends and a second close throw', async () => {
    const ch = new Channel<number>({ capacity: 4 });
    await ch.send(1);
    await ch.send(2);
    ch.close();
    expect(ch.closed).toBe(true);
    await expect(ch.send(3)).rejects.toThrow(ChannelClosedError);
    expect(() => ch.trySend(3)).toThrow(ChannelClosedError);
    expect(() => ch.sendSync(3)).toThrow(ChannelClosedError);
    expect(() => ch.close()).toThrow(ChannelClosedError);
    expect(await ch.recv()).toEqual({ ok: true, value: 1 });
    expect(ch.tryRecv()).toEqual({ ok: true, value: 2 });
    expect(await ch.recv()).toEqual({ ok: false });
    expect(ch.tryRecv()).toEqual({ ok: false });
    expect(ch.recvSync()).toEqual({ ok: false });
  });

  it('close wakes every waiting receiver and sender', async () => {
    const empty = new Channel<number>({ capacity: 1 });
    const receivers = [empty.recv(), empty.recv({ timeout: 5000 }), empty.recv()];
    const full = new Channel<number>({ capacity: 1 });
    await full.send(0);
    const senders = [full.send(1), full.send(2, { timeout: 5000 })];
    await sleep(20);
    empty.close();
    full.close();
    expect(await Promise.all(receivers)).toEqual([{ ok: false }, { ok: false }, { ok: false }]);
    for (const s of await Promise.allSettled(senders)) {
      expect(s.status).toBe('rejected');
      expect((s as PromiseRejectedResult).reason).toBeInstanceOf(ChannelClosedError);
    }
    expect(await full.recv()).toEqual({ ok: true, value: 0 });
    expect(await full.recv()).toEqual({ ok: false });
    expect(pendingAsyncWaitCount()).toBe(0);
  });

  it('a timed-out or aborted recv takes nothing and holds nothing', async () => {
    const ch = new Channel<number>({ capacity: 2 });
    await expect(ch.recv({ timeout: 15 })).rejects.toThrow(TimeoutError);
    const ac = new AbortController();
    const p = ch.recv({ signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stop')), 10);
    const err = await p.catch((e) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(err.cause).toEqual(new Error('stop'));
    await expect(ch.recv({ signal: AbortSignal.abort() })).rejects.toThrow(AbortError);
    expectClean(ch, 0);
    await ch.send(7);
    expect(ch.tryRecv()).toEqual({ ok: true, value: 7 });
    expect(pendingAsyncWaitCount()).toBe(0);
  });

  it('a timed-out or aborted send writes nothing: the capacity stays exact', async () => {
    const ch = new Channel<number>({ capacity: 2 });
    await ch.send(1);
    await ch.send(2);
    await expect(ch.send(3, { timeout: 15 })).rejects.toThrow(TimeoutError);
    const ac = new AbortController();
    const p = ch.send(4, { signal: ac.signal });
    setTimeout(() => ac.abort(), 10);
    await expect(p).rejects.toThrow(AbortError);
    await expect(ch.send(5, { signal: AbortSignal.abort() })).rejects.toThrow(AbortError);
    expectClean(ch, 2);
    expect(ch.tryRecv()).toEqual({ ok: true, value: 1 });
    expect(ch.trySend(6)).toBe(true);
    expect(ch.trySend(7)).toBe(false);
    expect(ch.tryRecv()).toEqual({ ok: true, value: 2 });
    expect(ch.tryRecv()).toEqual({ ok: true, value: 6 });
    expect(ch.tryRecv()).toBeUndefined();
    expect(pendingAsyncWaitCount()).toBe(0);
  });

  it('a send that waits sends the value as it was at the call', async () => {
    const ch = new Channel<unknown>({ capacity: 1 });
    await ch.send(0);
    const buf = Buffer.from('abc');
    const p1 = ch.send(buf);
    buf[0] = 0x7a;
    expect(await ch.recv()).toEqual({ ok: true, value: 0 });
    await p1;
    const obj = { n: 1 };
    const p2 = ch.send(obj);
    obj.n = 2;
    expect(await ch.recv()).toEqual({ ok: true, value: Buffer.from('abc') });
    await p2;
    expect(await ch.recv()).toEqual({ ok: true, value: { n: 1 } });
  });

  it('bad timeouts fail at the call site', async () => {
    const ch = new Channel<number>({ capacity: 1 });
    await expect(ch.recv({ timeout: -1 })).rejects.toThrow(InvalidArgumentError);
    expect(() => ch.sendSync(1, { timeout: Number.NaN })).toThrow(InvalidArgumentError);
  });

  it('an uncloneable value is SerializationError at the sender, with nothing written', async () => {
    const ch = new Channel<unknown>({ capacity: 2 });
    await expect(ch.send(() => 1)).rejects.toThrow(SerializationError);
    expect(() => ch.trySend({ f: () => 1 })).toThrow(SerializationError);
    expect(() => ch.sendSync(Symbol('s'))).toThrow(SerializationError);
    expectClean(ch, 0);
    await ch.send('next');
    expect(await ch.recv()).toEqual({ ok: true, value: 'next' });
  });

  it('a corrupt record in shared memory is CorruptMemoryError, and the process goes on', async () => {
    for (const scribble of [
      (i32: Int32Array) => (i32[0] = 1 << 28), // length past the ring
      (i32: Int32Array) => (i32[0] = -5), // negative length
      (i32: Int32Array) => (i32[1] = 0x12345678), // bad magic
      (i32: Int32Array) => (i32[1] = (i32[1] & ~0xff) | 200), // unknown tag
    ]) {
      const ch = new Channel<unknown>({ capacity: 4, bytes: 1024 });
      await ch.send({ a: 'b' });
      scribble(new Int32Array(ch.handle.sab, DATA_OFFSET, 4));
      await expect(ch.recv()).rejects.toThrow(CorruptMemoryError);
      expect(() => ch.tryRecv()).toThrow(CorruptMemoryError);
      expect(Atomics.load(ctrl(ch), CLOCK)).toBe(0);
    }
    // a v8 payload that is not v8
    const ch = new Channel<unknown>({ capacity: 4, bytes: 1024 });
    await ch.send({ a: 'b' });
    new Uint8Array(ch.handle.sab, DATA_OFFSET + 8, 4).fill(0xff);
    await expect(ch.recv()).rejects.toThrow(CorruptMemoryError);
  });

  it('async iteration yields until closed and drained', async () => {
    const ch = new Channel<number>({ capacity: 4 });
    const got: number[] = [];
    const reader = (async () => {
      for await (const v of ch) got.push(v);
    })();
    for (let i = 0; i < 50; i++) await ch.send(i);
    ch.close();
    await reader;
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('is rebuilt from its clone or handle as the same live channel, and travels inside messages', async () => {
    const ch = new Channel<unknown>({ capacity: 4 });
    expect(Object.keys(ch)).toEqual(['handle']);
    expect(Channel.from(ch.handle)).toBe(ch);
    expect(Channel.from(structuredClone(ch))).toBe(ch);
    expect(() => Channel.from({})).toThrow(InvalidArgumentError);
    const inner = new Channel<number>({ capacity: 1 });
    await ch.send({ inner });
    const r = await ch.recv();
    expect(r.ok && (r.value as { inner: Channel<number> }).inner).toBe(inner);
  });

  it('a message larger than the ring streams through in order', async () => {
    const ch = new Channel<unknown>({ capacity: 4, bytes: 256 });
    const big = new Uint8Array(100_000).map((_, i) => i % 251);
    const sender = (async () => {
      await ch.send('before');
      await ch.send(big);
      await ch.send({ after: 'x'.repeat(5000) });
    })();
    expect(ch.trySend(big)).toBe(false); // all or nothing
    expect(await ch.recv()).toEqual({ ok: true, value: 'before' });
    const r = await ch.recv();
    expect(r.ok && (r.value as Uint8Array)).toEqual(big);
    expect(await ch.recv()).toEqual({ ok: true, value: { after: 'x'.repeat(5000) } });
    await sender;
    expectClean(ch, 0);
  });

  it('two async receivers on one thread share large messages without both reading one stream', async () => {
    // Both recv() calls carried on the one stream of the thread: the second read the first's chunks
    // or ran past its end (CorruptMemoryError: expected a chunk).
    const ch = new Channel<{ i: number; pad: string }>({ capacity: 4, bytes: 4096 });
    const got: number[] = [];
    const receivers = [0, 1, 2].map(async () => {
      for (let r = await ch.recv({ timeout: 5000 }); r.ok; r = await ch.recv({ timeout: 5000 })) got.push(r.value.i);
    });
    for (let i = 0; i < 30; i++) await ch.send({ i, pad: 'x'.repeat(i % 2 ? 10 : 9000) });
    ch.close();
    await Promise.all(receivers);
    expect(got.sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  describe('rendezvous (capacity 0)', () => {
    it('a send completes only once a receiver took the message', async () => {
      const ch = new Channel<number>({ capacity: 0 });
      expect(ch.trySend(1)).toBe(false);
      let sent = false;
      const s = ch.send(1).then(() => (sent = true));
      await sleep(20);
      expect(sent).toBe(false);
      expect(ch.length).toBe(0);
      expect(ch.tryRecv()).toEqual({ ok: true, value: 1 });
      await s;
      expect(sent).toBe(true);
      const r = ch.recv();
      await sleep(5);
      await ch.send(2);
      expect(await r).toEqual({ ok: true, value: 2 });
    });

    it('a send that times out or is aborted takes its message back', async () => {
      const ch = new Channel<number>({ capacity: 0 });
      await expect(ch.send(1, { timeout: 15 })).rejects.toThrow(TimeoutError);
      const ac = new AbortController();
      const p = ch.send(2, { signal: ac.signal });
      setTimeout(() => ac.abort(), 10);
      await expect(p).rejects.toThrow(AbortError);
      expect(ch.tryRecv()).toBeUndefined();
      expectClean(ch, 0);
      await expect(ch.recv({ timeout: 10 })).rejects.toThrow(TimeoutError);
    });

    it('close makes a waiting sender take its message back and throw', async () => {
      const ch = new Channel<number>({ capacity: 0 });
      const p = ch.send(1);
      await sleep(10);
      ch.close();
      await expect(p).rejects.toThrow(ChannelClosedError);
      expect(await ch.recv()).toEqual({ ok: false });
    });
  });
});
