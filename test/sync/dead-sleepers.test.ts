// A thread terminated while it sleeps on a shared object never takes its registration on the wait
// word back (memory/wait/word.ts invariant 7). Before the census, SLEEPERS stayed > 0 for good:
// every later notifyAll paid an Atomics.notify and the pool read a dead worker as a sleeping one.
// Now the first notify that wakes nobody moves the count to a new epoch, and the object keeps
// working for the threads that are left.
import { Worker } from 'node:worker_threads';
import {
  belledOf,
  Channel,
  channelRing,
  lingeringOf,
  pendingAsyncWaitCount,
  seqOf,
  sleepersOf,
  threadBell,
  WaitGroup,
  type WaitWord,
  wordAt,
} from 'skein/internal';
import { recv, select, send } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { sleep, until } from '../fixtures/sync-run.js';

const DEAD = new URL('../fixtures/dead-waiter.mjs', import.meta.url);
const started: Worker[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((w) => w.terminate()));
});

/** Starts `op` of dead-waiter.mjs; `result` settles with what it got once what it waits for comes. */
function start(op: string, data: Record<string, unknown>): { worker: Worker; result: Promise<unknown> } {
  const worker = new Worker(DEAD, { workerData: { op, ...data } });
  started.push(worker);
  const result = new Promise((resolve, reject) => {
    worker.once('message', (m: { value: unknown }) => resolve(m.value));
    worker.once('error', reject);
  });
  return { worker, result };
}

/** Starts `op` and waits until it is registered on `word` and parked; then terminates it. */
async function killAsleep(word: WaitWord, op: string, data: Record<string, unknown>): Promise<void> {
  const before = sleepersOf(word);
  const { worker } = start(op, data);
  await until(() => sleepersOf(word) > before, 10_000, `${op} to register`);
  await sleep(50); // past its spin, parked
  await worker.terminate();
}

const wgWord = (wg: WaitGroup): WaitWord => wordAt(new Int32Array(wg.handle.sab), 1); // COUNT, then the word
// A channel's words are belled (word.ts invariant 9): BELLED follows each.
const chWord = (ch: Channel, at: number): WaitWord =>
  wordAt(new Int32Array(ch.handle.sab, 0, channelRing.CLW + 8), at, threadBell().word);

describe('a waiter terminated while asleep does not stay counted (word.ts invariant 7)', () => {
  it('WaitGroup: a blocking and an async waiter killed; done() repairs the count; the group still works', async () => {
    const wg = new WaitGroup();
    wg.add(1);
    const word = wgWord(wg);
    await killAsleep(word, 'wgWaitSync', { obj: wg });
    await killAsleep(word, 'wgWait', { obj: wg });
    expect(sleepersOf(word)).toBe(2); // both dead, both still counted: nothing has been notified yet
    wg.done(); // a notify that wakes nobody while two are counted: a census
    expect({ sleepers: sleepersOf(word), lingering: lingeringOf(word) }).toEqual({ sleepers: 0, lingering: 0 });

    // The group still works for a live waiter, which takes its registration back when woken.
    wg.add(1);
    const live = start('wgWaitSync', { obj: wg });
    await until(() => sleepersOf(word) === 1, 10_000, 'the live waiter to register');
    await sleep(20);
    wg.done();
    expect(await live.result).toBe(null);
    await until(() => sleepersOf(word) === 0, 5000, 'the live waiter to leave');
    expect(lingeringOf(word)).toBe(0);
  });

  it('Channel: receivers and a sender killed while asleep; the next send or receive repairs DATA and ROOM', async () => {
    const ch = new Channel<string>({ capacity: 1 });
    const data = chWord(ch, channelRing.DATA);
    const room = chWord(ch, channelRing.ROOM);
    await killAsleep(data, 'recvSync', { obj: ch });
    await killAsleep(data, 'recv', { obj: ch });
    expect(sleepersOf(data)).toBe(2);
    expect(ch.trySend('a')).toBe(true); // rings DATA: wakes nobody, so a census
    expect(sleepersOf(data)).toBe(0);

    // The ring is full ('a'): a sender blocks on ROOM and is killed there.
    await killAsleep(room, 'sendSync', { obj: ch, value: 'lost' });
    expect(sleepersOf(room)).toBe(1);
    expect(await ch.recv({ timeout: 1000 })).toEqual({ ok: true, value: 'a' }); // rings ROOM
    expect(sleepersOf(room)).toBe(0);

    // Live threads still meet on it: a receiver that sleeps is woken by the next send.
    const live = start('recvSync', { obj: ch });
    await until(() => sleepersOf(data) === 1, 10_000, 'the live receiver to register');
    await sleep(20);
    await ch.send('b', { timeout: 1000 });
    expect(await live.result).toEqual({ ok: true, value: 'b' });
    await until(() => sleepersOf(data) === 0, 5000, 'the live receiver to leave');
    expect({ data: lingeringOf(data), room: lingeringOf(room), pending: pendingAsyncWaitCount() }).toEqual({
      data: 0,
      room: 0,
      pending: 0,
    });
  });

  // A rendezvous receiver counts itself in the channel's WAITING slot while it waits and uncounts
  // itself when it stops; one terminated while it waits never does. Before the census of WAITING
  // (byte-ring.ts invariant 9) nothing repaired the count: senders took a dead receiver for a
  // waiting one, a trySend offered and spun for a taker every time, and a send of a message larger
  // than the ring (a blocking send, or a select's send case) began streaming with no one to take
  // it. Here the select committed to its send case that no live receiver could take and timed out,
  // though its other case became ready at once. Now the trySend's offer that no one took holds a
  // census, which takes the dead receiver out of the count.
  it('rendezvous: a receiver killed while it waits is taken out of WAITING; a select then takes its ready case', async () => {
    const rv = new Channel<string>({ capacity: 0, bytes: 4096 });
    const other = new Channel<number>({ capacity: 1 });
    const c = new Int32Array(rv.handle.sab, 0, 8);
    const waiting = (): number => channelRing.waitingCount(Atomics.load(c, channelRing.WAITING));
    await killAsleep(chWord(rv, channelRing.DATA), 'recvSync', { obj: rv });
    expect(waiting()).toBe(1);
    expect(rv.trySend('x')).toBe(false); // no live receiver: nothing taken (its offer was taken back)
    expect(waiting()).toBe(0); // its census took the dead receiver out
    const picked = select([send(rv, 'y'.repeat(20_000)), recv(other)], { timeout: 1500 });
    await sleep(50);
    expect(other.trySend(7)).toBe(true);
    expect(await picked.catch((e: Error) => e.name)).toEqual({ index: 1, ok: true, value: 7 }); // before: 'TimeoutError'
    expect(waiting()).toBe(0);

    // A live receiver still meets a trySend, and counts itself in the new epoch.
    const live = start('recvSync', { obj: rv });
    await until(() => waiting() === 1, 10_000, 'the live receiver to wait');
    await until(() => rv.trySend('z'), 10_000, 'a trySend to meet the live receiver');
    expect(await live.result).toEqual({ ok: true, value: 'z' });
    await until(() => waiting() === 0, 5000, 'the live receiver to leave');
  });

  it('selectSync: a select asleep on the bell killed; sends repair the bell, BELLED and the words', async () => {
    const chs = [0, 1].map(() => new Channel<number>({ capacity: 4 }));
    const datas = chs.map((c) => chWord(c, channelRing.DATA));
    const bell = threadBell().word;
    const bellBefore = sleepersOf(bell);
    await killAsleep(datas[1], 'selectSync', { objs: chs });
    expect(datas.map((w) => [sleepersOf(w), belledOf(w)])).toEqual([
      [1, 1],
      [1, 1],
    ]);
    expect(sleepersOf(bell)).toBe(bellBefore + 1);
    // Writes on both channels: the bell's census, then BELLED and each word (one census per
    // thread per millisecond: until() polls every millisecond or so).
    await until(
      () => {
        for (const c of chs) {
          c.trySend(0);
          c.tryRecv();
        }
        return datas.every((w) => sleepersOf(w) === 0 && belledOf(w) === 0) && sleepersOf(bell) === bellBefore;
      },
      5000,
      'the counts to come back',
    );

    // A live select still sleeps on the bell and wakes for a send.
    const live = start('selectSync', { objs: chs });
    await until(() => belledOf(datas[0]) === 1 && belledOf(datas[1]) === 1, 10_000, 'the live select to sleep');
    await sleep(20);
    chs[0].trySend(7);
    expect(await live.result).toEqual({ index: 0, ok: true, value: 7 });
    await until(() => datas.every((w) => sleepersOf(w) === 0 && belledOf(w) === 0), 5000, 'the live select to leave');
  });

  it('selectSync: a select killed on the bell is repaired while another select sleeps on the bell', async () => {
    // The live select keeps the bell's count up; before the fix, the killed select's BELLED on A0
    // was repaired only while the bell counted no sleeper, so A0's counts stayed at 1 and every
    // write on A0 rang the bell and woke the live select, an unrelated thread (word.ts invariant 9).
    const cs = [0, 1].map(() => new Channel<number>({ capacity: 4 }));
    const as = [0, 1].map(() => new Channel<number>({ capacity: 4 }));
    const cDatas = cs.map((c) => chWord(c, channelRing.DATA));
    const aDatas = as.map((c) => chWord(c, channelRing.DATA));
    const bell = threadBell().word;
    const bellBefore = sleepersOf(bell);
    const live = start('selectSync', { objs: cs });
    await until(() => cDatas.every((w) => belledOf(w) === 1), 10_000, 'the live select to sleep on the bell');
    const doomed = start('selectSync', { objs: as });
    await until(() => aDatas.every((w) => belledOf(w) === 1), 10_000, 'the doomed select to sleep on the bell');
    await sleep(50); // parked on the bell
    await doomed.worker.terminate();
    expect(sleepersOf(bell)).toBe(bellBefore + 2);
    expect([sleepersOf(aDatas[0]), belledOf(aDatas[0])]).toEqual([1, 1]);

    const write = (): void => {
      as[0].trySend(0);
      as[0].tryRecv();
    };
    // A few writes on A0, a millisecond or more apart (one census per word per thread per ms).
    for (let k = 0; k < 20; k++) {
      write();
      await sleep(2);
    }
    // Repaired: writes on A0 no longer ring the bell, and the bell counts the live select only.
    const seq = seqOf(bell);
    for (let k = 0; k < 200; k++) {
      write();
      if (k % 2 === 0) await sleep(1); // time for a woken select to arm the bell again
    }
    const bumps = (seqOf(bell) - seq) | 0;
    expect({ a0: [sleepersOf(aDatas[0]), belledOf(aDatas[0])], bell: sleepersOf(bell) }).toEqual({
      a0: [0, 0],
      bell: bellBefore + 1,
    });
    expect(bumps).toBeLessThan(10); // ~130 before the fix (each write after the select re-armed)

    // The live select still sleeps on the bell and wakes for a send.
    await until(() => cDatas.every((w) => belledOf(w) === 1), 10_000, 'the live select to sleep again');
    await sleep(20);
    cs[1].trySend(9);
    expect(await live.result).toEqual({ index: 1, ok: true, value: 9 });
    await until(() => cDatas.every((w) => sleepersOf(w) === 0 && belledOf(w) === 0), 5000, 'the live select to leave');
  });
});
