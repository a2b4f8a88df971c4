// Rendezvous receivers terminated while they wait, among live receivers and senders that go on
// (byte-ring.ts invariant 9): the dead ones stayed counted in WAITING for good before its census.
import { Worker } from 'node:worker_threads';
import { Channel, channelRing } from 'skein/internal';
import { afterEach, describe, expect, it } from 'vitest';
import { runOp, sleep } from '../fixtures/channel-helpers.js';
import { until } from '../fixtures/sync-run.js';

const DEAD = new URL('../fixtures/dead-waiter.mjs', import.meta.url);
const doomed: Worker[] = [];

afterEach(async () => {
  await Promise.all(doomed.splice(0).map((w) => w.terminate()));
});

type Msg = { p: number; i: number };

describe('rendezvous: receivers terminated while they wait (byte-ring.ts invariant 9)', () => {
  it('live receivers and senders go on; each message once; with only dead receivers left, trySend is false at once', async () => {
    const rv = new Channel<Msg>({ capacity: 0, bytes: 4096 });
    const idle = new Channel<Msg>({ capacity: 1 });
    const c = new Int32Array(rv.handle.sab, 0, channelRing.SENT + 1);
    const waiting = (): number => channelRing.waitingCount(Atomics.load(c, channelRing.WAITING));
    // ctl[0]: senders run (0), pause (1), end (2); ctl[1]: receivers end; ctl[2]: senders paused
    const ctl = new Int32Array(new SharedArrayBuffer(16));

    const receivers = [
      runOp<[number, number][]>('rvRecvUntil', { ch: rv, ctl, timeout: 200 }),
      runOp<[number, number][]>('rvRecvUntil', { ch: rv, ctl, timeout: 200 }),
      runOp<[number, number][]>('rvRecvUntil', { ch: rv, idle, ctl, timeout: 200, select: true }),
    ];
    // main thread: an async receiver (Atomics.waitAsync), no timeout, ended by its signal
    const mainGot: [number, number][] = [];
    const stopMain = new AbortController();
    const mainReceiver = (async () => {
      for (;;) {
        try {
          const r = await rv.recv({ signal: stopMain.signal });
          if (r.ok) mainGot.push([r.value.p, r.value.i]);
        } catch (e) {
          if ((e as Error).name === 'AbortError') return;
          throw e;
        }
      }
    })();
    const live = receivers.length + 1;
    await until(() => waiting() === live, 20_000, 'the live receivers to wait');

    const senders = [
      runOp<number[]>('rvSendPaced', { ch: rv, ctl, id: 1, mode: 'try', bigEvery: 0 }),
      runOp<number[]>('rvSendPaced', { ch: rv, ctl, id: 2, mode: 'sync', timeout: 5, bigEvery: 5 }),
      runOp<number[]>('rvSendPaced', { ch: rv, ctl, id: 3, mode: 'select', timeout: 5, bigEvery: 4 }),
    ];
    const pause = async (): Promise<void> => {
      Atomics.store(ctl, 0, 1);
      await until(() => Atomics.load(ctl, 2) === senders.length, 20_000, 'the senders to pause');
    };
    const resume = (): void => {
      Atomics.store(ctl, 0, 0);
      Atomics.notify(ctl, 0);
    };

    let dead = 0;
    /** While no message is in flight: receivers that wait on rv, killed once counted and parked. */
    const killWaiting = async (n: number): Promise<void> => {
      await pause();
      await sleep(20);
      // No census while paused (only a trySend holds one): the count moves only as receivers come
      // and go (a live one between two receives may be out for an instant: hence >= below).
      const before = waiting();
      for (let k = 0; k < n; k++) {
        const w = new Worker(DEAD, { workerData: { op: k % 2 === 0 ? 'recvSync' : 'recv', obj: rv } });
        doomed.push(w);
      }
      await until(() => waiting() >= before + n, 20_000, 'the doomed receivers to wait');
      await sleep(50); // past their spin, parked
      await Promise.all(doomed.splice(0).map((w) => w.terminate()));
      dead += n;
      resume();
    };

    await sleep(300);
    for (let round = 0; round < 3; round++) {
      await killWaiting(3);
      await sleep(300);
    }

    // End: senders stop, live receivers stop; only dead receivers may be counted now.
    await pause();
    Atomics.store(ctl, 0, 2);
    Atomics.notify(ctl, 0);
    const sentBy = await Promise.all(senders);
    Atomics.store(ctl, 1, 1);
    stopMain.abort();
    const got = [...(await Promise.all(receivers)), mainGot];
    await mainReceiver;

    // Every message whose send went was received exactly once, and nothing else was.
    const received = got.flat().map(([p, i]) => `${p}:${i}`);
    const sent = sentBy.flatMap((idx, k) => idx.map((i) => `${k + 1}:${i}`));
    expect(new Set(received).size).toBe(received.length);
    expect([...received].sort()).toEqual([...sent].sort());
    expect(sentBy.every((idx) => idx.length > 0)).toBe(true);

    // Only dead receivers (of those killed, the ones no census took out yet): the first trySend's
    // offer finds no taker and holds a census; from then on trySend is false at once.
    expect(waiting()).toBeLessThanOrEqual(dead);
    expect(rv.trySend({ p: 0, i: 0 })).toBe(false);
    expect(waiting()).toBe(0);
    // Before the census each one offered (SENT moved) and spun 0.2 ms for a taker, then took its
    // message back. Counted by offers, not by wall time: a loaded machine's preemption and GC ate
    // most of a 100 ms bound, and the regression cost only 200 ms.
    const sentBefore = Atomics.load(c, channelRing.SENT);
    let refused = 0;
    for (let k = 0; k < 1000; k++) if (!rv.trySend({ p: 0, i: k })) refused++;
    expect(refused).toBe(1000);
    expect(Atomics.load(c, channelRing.SENT) - sentBefore).toBe(0);

    // A live receiver still counts itself and meets a trySend.
    const lastCtl = new Int32Array(new SharedArrayBuffer(8));
    const last = runOp<[number, number][]>('rvRecvUntil', { ch: rv, ctl: lastCtl, timeout: 100 });
    await until(() => waiting() === 1, 20_000, 'a new receiver to wait');
    await until(() => rv.trySend({ p: 9, i: 9 }), 20_000, 'a trySend to meet it');
    Atomics.store(lastCtl, 1, 1);
    expect(await last).toEqual([[9, 9]]);
  }, 60_000);
});
