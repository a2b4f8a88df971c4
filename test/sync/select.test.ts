import {
  AbortError,
  BELL_SLICE_MS,
  belledOf,
  Channel,
  ChannelClosedError,
  channelRing,
  defaultCase,
  InvalidArgumentError,
  now,
  pendingAsyncWaitCount,
  recv,
  SerializationError,
  select,
  selectSync,
  send,
  sleepersOf,
  threadBell,
  TimeoutError,
  wordAt,
} from 'skein/internal';
import { getEnvironmentData, setEnvironmentData } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { runOp, sleep } from '../fixtures/channel-helpers.js';
import { until } from '../fixtures/sync-run.js';

function filled(n: number): Channel<number> {
  const ch = new Channel<number>({ capacity: n });
  for (let i = 0; i < n; i++) ch.trySend(i);
  return ch;
}

describe('select', () => {
  it('rejects what is not a list of cases', async () => {
    const ch = new Channel<number>({ capacity: 1 });
    await expect(select([])).rejects.toThrow(InvalidArgumentError);
    await expect(select([{ ch } as never])).rejects.toThrow(InvalidArgumentError);
    await expect(select([defaultCase(), defaultCase()])).rejects.toThrow(InvalidArgumentError);
    expect(() => recv({} as never)).toThrow(InvalidArgumentError);
    expect(() => selectSync(null as never)).toThrow(InvalidArgumentError);
    // holes of a sparse array are not cases: before, [, recv(ch)] threw a TypeError and
    // new Array(2) made a select that never settled
    await expect(select([, recv(ch)] as never, { timeout: 1000 })).rejects.toThrow(/case 0 was not made by recv/);
    await expect(select(new Array(2), { timeout: 1000 })).rejects.toThrow(InvalidArgumentError);
    expect(() => selectSync(new Array(1), { timeout: 1000 })).toThrow(InvalidArgumentError);
  });

  it('does the ready case: a receive gives its value, a send puts it', async () => {
    const a = new Channel<number>({ capacity: 1 });
    const b = filled(1);
    expect(await select([recv(a), recv(b)])).toEqual({ index: 1, ok: true, value: 0 });
    expect(await select([recv(a), send(b, 9)])).toEqual({ index: 1, ok: true });
    expect(selectSync([recv(a), recv(b)])).toEqual({ index: 1, ok: true, value: 9 });
  });

  it('with a default case it never waits', async () => {
    const a = new Channel<number>({ capacity: 1 });
    const full = filled(1);
    expect(await select([recv(a), send(full, 1), defaultCase()])).toEqual({ index: 2, ok: true });
    expect(selectSync([defaultCase(), recv(a)])).toEqual({ index: 0, ok: true });
    expect(full.length).toBe(1);
    a.trySend(5);
    expect(await select([recv(a), defaultCase()])).toEqual({ index: 0, ok: true, value: 5 });
  });

  it('chooses at random among ready cases: two always-ready channels get ~50% each', async () => {
    const a = filled(4000);
    const b = filled(4000);
    const idle = new Channel<number>({ capacity: 1 });
    const picks = [0, 0, 0];
    for (let i = 0; i < 2000; i++) picks[(await select([recv(a), recv(idle), recv(b)])).index]++;
    expect(picks[1]).toBe(0);
    expect(picks[0]).toBeGreaterThan(850);
    expect(picks[2]).toBeGreaterThan(850);
    const s = [0, 0];
    const x = new Channel<number>({ capacity: 4000 });
    const y = new Channel<number>({ capacity: 4000 });
    for (let i = 0; i < 2000; i++) s[selectSync([send(x, i), send(y, i)]).index]++;
    expect(s[0]).toBeGreaterThan(850);
    expect(s[1]).toBeGreaterThan(850);
    expect(x.length + y.length).toBe(2000);
  });

  it('waits for the first case that becomes ready, without leaving waits behind', async () => {
    const a = new Channel<number>({ capacity: 1 });
    const b = new Channel<number>({ capacity: 1 });
    setTimeout(() => b.trySend(42), 20);
    expect(await select([recv(a), recv(b)], { timeout: 5000 })).toEqual({ index: 1, ok: true, value: 42 });
    const full = filled(1);
    setTimeout(() => full.tryRecv(), 20);
    expect(await select([recv(a), send(full, 7)], { timeout: 5000 })).toEqual({ index: 1, ok: true });
    setTimeout(() => a.close(), 20);
    expect(await select([recv(a), recv(b)])).toEqual({ index: 0, ok: false, value: undefined });
    expect(pendingAsyncWaitCount()).toBe(0);
  });

  it('times out or aborts with nothing done', async () => {
    const a = new Channel<number>({ capacity: 1 });
    const full = filled(1);
    const cases = [recv(a), send(full, 1)];
    await expect(select(cases, { timeout: 20 })).rejects.toThrow(TimeoutError);
    expect(() => selectSync(cases, { timeout: 20 })).toThrow(TimeoutError);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    await expect(select(cases, { signal: ac.signal })).rejects.toThrow(AbortError);
    await expect(select(cases, { signal: AbortSignal.abort() })).rejects.toThrow(AbortError);
    expect(full.length).toBe(1);
    expect(full.tryRecv()).toEqual({ ok: true, value: 0 });
    a.trySend(3);
    expect(a.tryRecv()).toEqual({ ok: true, value: 3 });
    expect(pendingAsyncWaitCount()).toBe(0);
  });

  it('a send case on a closed channel throws; an uncloneable send value throws before anything', async () => {
    const closed = new Channel<number>({ capacity: 1 });
    closed.close();
    await expect(select([send(closed, 1)])).rejects.toThrow(ChannelClosedError);
    const a = new Channel<unknown>({ capacity: 1 });
    const b = new Channel<unknown>({ capacity: 1 });
    await expect(select([send(a, 1), send(b, () => 1)])).rejects.toThrow(SerializationError);
    expect(a.length).toBe(0);
  });

  it('works with rendezvous channels and with messages larger than the ring', async () => {
    const rv = new Channel<number>({ capacity: 0 });
    const sent = rv.send(11);
    expect(await select([recv(rv)], { timeout: 1000 })).toEqual({ index: 0, ok: true, value: 11 });
    await sent;
    const r = select([recv(rv)], { timeout: 2000 });
    await sleep(10);
    await rv.send(12);
    expect(await r).toEqual({ index: 0, ok: true, value: 12 });

    const small = new Channel<unknown>({ capacity: 2, bytes: 256 });
    const big = 'z'.repeat(10_000);
    const s = select([send(small, big)]);
    expect(await select([recv(small)])).toEqual({ index: 0, ok: true, value: big });
    expect(await s).toEqual({ index: 0, ok: true });
  });

  it('a rendezvous send case meets a receiver on the same thread, and never goes twice', async () => {
    // A send case used to offer its message only for 0.2 ms of synchronous spinning, during which a
    // receiver on the same thread cannot run: the two never met (and the select spun the CPU).
    const rv = new Channel<number>({ capacity: 0 });
    const r = rv.recv({ timeout: 2000 });
    expect(await select([send(rv, 1)], { timeout: 2000 })).toEqual({ index: 0, ok: true });
    expect(await r).toEqual({ ok: true, value: 1 });
    const taker = select([recv(rv)], { timeout: 2000 });
    expect(await select([send(rv, 2)], { timeout: 2000 })).toEqual({ index: 0, ok: true });
    expect(await taker).toEqual({ index: 0, ok: true, value: 2 });
    // two rendezvous send cases and a receive case that never fires: exactly one send goes
    const a = new Channel<number>({ capacity: 0 });
    const b = new Channel<number>({ capacity: 0 });
    const idle = new Channel<number>({ capacity: 1 });
    for (let k = 0; k < 20; k++) {
      const got = b.recv({ timeout: 2000 });
      const s = await select([send(a, k), send(b, k), recv(idle)], { timeout: 2000 });
      expect(s).toEqual({ index: 1, ok: true });
      expect(await got).toEqual({ ok: true, value: k });
      expect(a.tryRecv()).toBeUndefined();
    }
    // a select that times out with its offer untaken leaves nothing behind
    await expect(select([send(a, 9)], { timeout: 20 })).rejects.toThrow(TimeoutError);
    expect(a.tryRecv()).toBeUndefined();
    expect(pendingAsyncWaitCount()).toBe(0);
  });

  it('a rendezvous send case of a message larger than the ring goes to a waiting receiver', async () => {
    const rv = new Channel<string>({ capacity: 0, bytes: 4096 });
    const big = 'q'.repeat(20_000);
    const got = runOp<{ ok: boolean; value?: string } | string>('recvTimeout', { ch: rv, timeout: 5000 });
    await sleep(200);
    expect(await select([send(rv, big)], { timeout: 4000 })).toEqual({ index: 0, ok: true });
    expect(await got).toEqual({ ok: true, value: big });
  });

  it('a receive case aborted in the middle of a large message takes it whole: nothing is left locked', async () => {
    const ch = new Channel<string>({ capacity: 2, bytes: 256 });
    const big = 'w'.repeat(5000);
    const sent = ch.send(big);
    const ac = new AbortController();
    const first = select([recv(ch)], { signal: ac.signal });
    ac.abort(); // it has begun the stream: it takes the whole message (byte-ring.ts invariant 8)
    // was: AbortError, with the consumer lock and the part kept for a later receive of this thread
    expect(await first).toEqual({ index: 0, ok: true, value: big });
    await sent;
    expect(await select([recv(ch), defaultCase()])).toEqual({ index: 1, ok: true });
    expect(Atomics.load(new Int32Array(ch.handle.sab, 0, 512), 128)).toBe(0); // CLOCK free
  });

  it('a receive case whose sender gives up in the middle waits on, and does not report closed', async () => {
    const ch = new Channel<string>({ capacity: 2, bytes: 256 });
    const ac = new AbortController();
    const cut = ch.send('c'.repeat(5000), { signal: ac.signal });
    const r = select<string>([recv(ch)], { timeout: 3000 }); // it begins the stream at once
    ac.abort();
    await expect(cut).rejects.toThrow(AbortError);
    await sleep(20);
    expect(ch.closed).toBe(false);
    await ch.send('next');
    expect(await r).toEqual({ index: 0, ok: true, value: 'next' }); // was { ok: false }
  });

  it('across threads: worker selects over several channels, async and blocking', async () => {
    for (const sync of [false, true]) {
      const chs = [0, 1, 2].map(() => new Channel<number>({ capacity: 4 }));
      const worker = runOp<number[][]>('selectRecv', { chs, sync });
      for (let i = 0; i < 300; i++) await chs[i % 3].send(i);
      for (const c of chs) c.close();
      const got = await worker;
      got.forEach((vals, k) => {
        expect(vals).toEqual(Array.from({ length: 100 }, (_, j) => 3 * j + k));
      });
    }
    const outs = [0, 1].map(() => new Channel<number>({ capacity: 8 }));
    const sender = runOp<number[]>('selectSend', { chs: outs, count: 400, sync: true });
    const seen: number[] = [];
    while (seen.length < 400) {
      const r = await select<number>([recv(outs[0]), recv(outs[1])], { timeout: 10_000 });
      seen.push(r.value as number);
    }
    const picks = await sender;
    expect(picks[0] + picks[1]).toBe(400);
    expect(seen.sort((x, y) => x - y)).toEqual(Array.from({ length: 400 }, (_, i) => i));
  });
});

describe('an idle selectSync sleeps in the kernel (select-wait.ts, word.ts invariant 9)', () => {
  // A thread parks on one address, so selectSync used to block on the cases' words in turn, 1 ms
  // each: idle over two empty channels it woke ~900 times a second and took ~3% of a core. It now
  // sleeps on the bell, which the writers of its channels' words ring, and a send on either
  // channel wakes it at once (not at its 1 s backstop).
  it('two empty channels, idle 1.25 s each round: < 1% of a core, and a send on either wakes it', async () => {
    const chs = [0, 1].map(() => new Channel<number>({ capacity: 4 }));
    const datas = chs.map((c) => wordAt(new Int32Array(c.handle.sab, 0, channelRing.CLW + 8), channelRing.DATA));
    const worker = runOp<{ index: number; value: number; at: number; wallMs: number; cpuMs: number | null }[]>(
      'selectIdle',
      { chs, rounds: 2 },
    );
    const sentAt: number[] = [];
    for (const k of [1, 0]) {
      await until(() => datas.every((w) => sleepersOf(w) === 1), 10_000, 'the select to register');
      // Sleeping on the bell from ~10 ms in, its 1 s backstops come at ~1.01 s and ~2.01 s: a send
      // at 1.25 s that did not wake it would show ~760 ms (less any lateness of this sleep), far
      // past the bound below, which leaves a loaded machine 500 ms to deliver a real wake-up.
      await sleep(1250);
      sentAt.push(now());
      chs[k].trySend(10 + k);
    }
    const got = await worker;
    expect(got.map((r) => [r.index, r.value])).toEqual([
      [1, 11],
      [0, 10],
    ]);
    got.forEach((r, k) => {
      expect(r.at - sentAt[k]).toBeLessThan(500); // woken by the send, not by its backstop
      if (r.cpuMs !== null) expect(r.cpuMs / r.wallMs).toBeLessThan(0.01);
    });
  });

  it('a channel opened by a thread with another bell: the select finds out by its backstop, then takes turns', async () => {
    // The bell crosses to workers started after skein loaded (memory/wait/bell.ts); a thread started
    // without it makes its own, does not ring this one, and marks the channels it opens FOREIGN.
    const [x, y] = [0, 1].map(() => new Channel<number>({ capacity: 4 }));
    const ctl = new Channel<number>({ capacity: 4 });
    const xData = wordAt(new Int32Array(x.handle.sab, 0, channelRing.CLW + 8), channelRing.DATA, threadBell().word);
    const selects = runOp<{ index: number; value: number; at: number }[]>('selectIdle', { chs: [x, y], rounds: 3 });
    await until(() => belledOf(xData) === 1, 10_000, 'the select to sleep on the bell');
    const bell = getEnvironmentData('skein.wait.bell');
    setEnvironmentData('skein.wait.bell', undefined);
    const relay = runOp<number>('relay', { to: x, ctl }); // a thread with a bell of its own
    setEnvironmentData('skein.wait.bell', bell as SharedArrayBuffer);
    const sentAt = [now()];
    await ctl.send(1); // the relay opens x (FOREIGN) and sends 1 there, ringing no bell
    const received = (): number => Atomics.load(new Int32Array(x.handle.sab, 0, channelRing.CLW), channelRing.RECVD);
    await until(() => received() === 1, 10_000, 'the first value to be taken');
    await sleep(200);
    sentAt.push(now());
    await ctl.send(2); // the select now takes turns over the words: the relay's send wakes it
    await until(() => received() === 2, 10_000, 'the second value to be taken');
    await sleep(200);
    sentAt.push(now());
    y.trySend(3);
    const got = await selects;
    ctl.close();
    expect(await relay).toBe(2);
    expect(got.map((r) => [r.index, r.value])).toEqual([
      [0, 1],
      [0, 2],
      [1, 3],
    ]);
    expect(got[0].at - sentAt[0]).toBeLessThan(BELL_SLICE_MS + 2000);
    // Back on the bell, the second select would sleep from ~10 ms in until its backstop at ~1.01 s and
    // miss the relay's send at ~200 ms (~800 ms late); taking turns it wakes at once: 500 ms separates them.
    expect(got[1].at - sentAt[1]).toBeLessThan(500);
    expect(got[2].at - sentAt[2]).toBeLessThan(500);
  });
});
