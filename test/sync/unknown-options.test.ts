// A key the sync primitives' wait options do not take was ignored without a word: `m.lock({ timout:
// 50 })` waited with no time limit, `ch.recv({ signl })` could not be aborted, `new Channel({
// capacity: 8, byte: 1 << 20 })` got the default ring. Such a key is now InvalidArgumentError
// naming it, the keys taken, and the one it is a slip of.
import { Barrier, Channel, InvalidArgumentError, Mutex, Once, recv, RwLock, select, selectSync, Semaphore, WaitGroup } from 'skein';
import { describe, expect, it } from 'vitest';
import { failure } from '../fixtures/failure.js';

const TYPO = { timout: 50 } as never;
const taken = (what: string): RegExp =>
  new RegExp(`^${what.replace('.', '\\.')} options take only 'signal', 'timeout', got 'timout' \\(did you mean 'timeout'\\?\\)$`);

describe('unknown option keys of the sync primitives', () => {
  it.each([
    ['Semaphore.acquire', () => new Semaphore(1).acquire(1, TYPO)],
    ['Semaphore.acquireSync', () => new Semaphore(1).acquireSync(1, TYPO)],
    ['Semaphore.acquire', () => new Semaphore(1).withPermit(() => 1, TYPO)],
    ['Mutex.lock', () => new Mutex().lock(TYPO)],
    ['Mutex.lockSync', () => new Mutex().lockSync(TYPO)],
    ['Mutex.lock', () => new Mutex().withLock(() => 1, TYPO)],
    ['Mutex.lockSync', () => new Mutex().withLockSync(() => 1, TYPO)],
    ['RwLock.read', () => new RwLock().read(TYPO)],
    ['RwLock.readSync', () => new RwLock().readSync(TYPO)],
    ['RwLock.write', () => new RwLock().write(TYPO)],
    ['RwLock.writeSync', () => new RwLock().writeSync(TYPO)],
    ['RwLock.read', () => new RwLock().withRead(() => 1, TYPO)],
    ['RwLock.write', () => new RwLock().withWrite(() => 1, TYPO)],
    ['WaitGroup.wait', () => new WaitGroup().wait(TYPO)],
    ['WaitGroup.waitSync', () => new WaitGroup().waitSync(TYPO)],
    ['Barrier.wait', () => new Barrier(1).wait(TYPO)],
    ['Barrier.waitSync', () => new Barrier(1).waitSync(TYPO)],
    ['Once.do', () => new Once().do(() => 1, TYPO)],
    ['Once.doSync', () => new Once().doSync(() => 1, TYPO)],
    ['Channel.send', () => new Channel({ capacity: 1 }).send(1, TYPO)],
    ['Channel.sendSync', () => new Channel({ capacity: 1 }).sendSync(1, TYPO)],
    ['Channel.recv', () => new Channel({ capacity: 1 }).recv(TYPO)],
    ['Channel.recvSync', () => new Channel({ capacity: 1 }).recvSync(TYPO)],
    ['select', () => select([recv(new Channel({ capacity: 1 }))], TYPO)],
    ['selectSync', () => selectSync([recv(new Channel({ capacity: 1 }))], TYPO)],
  ])('%s', async (what, call) => {
    const err = await failure(call);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err.message).toMatch(taken(what));
  });

  it('a made-up key is named too, and it is refused before anything is taken', async () => {
    const sem = new Semaphore(1);
    const err = await failure(() => sem.acquire(1, { signal: new AbortController().signal, priority: 9 } as never));
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err.message).toBe("Semaphore.acquire options take only 'signal', 'timeout', got 'priority'");
    expect(sem.available).toBe(1);
    const ch = new Channel<number>({ capacity: 1 });
    expect(() => ch.sendSync(1, { timeout: 10, signl: undefined, sgnal: 1 } as never)).toThrow(/got 'sgnal' \(did you mean 'signal'\?\)$/);
    expect(ch.length).toBe(0);
  });

  it('Channel options: named, with the keys they take', () => {
    const make = (): unknown => new Channel({ capacity: 8, byte: 1 << 20 } as never);
    expect(make).toThrow(InvalidArgumentError);
    expect(make).toThrow(/^Channel options take only 'capacity', 'bytes', got 'byte' \(did you mean 'bytes'\?\)$/);
  });

  it('every documented key is taken, and a key left undefined is no mistake', async () => {
    const signal = new AbortController().signal;
    const opts = { signal, timeout: 1000, extra: undefined } as never;
    const sem = new Semaphore(2);
    (await sem.acquire(1, { signal, timeout: 1000 })).release();
    sem.acquireSync(1, opts).release();
    expect(await sem.withPermit(() => 1, opts)).toBe(1);
    const m = new Mutex();
    (await m.lock({ signal, timeout: 1000 })).release();
    m.lockSync(opts).release();
    expect(await m.withLock(() => 2, opts)).toBe(2);
    expect(m.withLockSync(() => 3, opts)).toBe(3);
    const rw = new RwLock();
    (await rw.read(opts)).release();
    rw.readSync(opts).release();
    (await rw.write(opts)).release();
    rw.writeSync(opts).release();
    const wg = new WaitGroup();
    await wg.wait(opts);
    wg.waitSync(opts);
    await new Barrier(1).wait(opts);
    new Barrier(1).waitSync(opts);
    expect(await new Once().do(() => 1, opts)).toBe(true);
    expect(new Once().doSync(() => 1, opts)).toBe(true);
    const ch = new Channel<number>({ capacity: 4, bytes: 1 << 17 });
    await ch.send(1, opts);
    ch.sendSync(2, opts);
    expect(await ch.recv(opts)).toEqual({ ok: true, value: 1 });
    expect(ch.recvSync(opts)).toEqual({ ok: true, value: 2 });
    ch.sendSync(3);
    ch.sendSync(4);
    expect((await select([recv(ch)], opts)).value).toBe(3);
    expect(selectSync([recv(ch)], opts).value).toBe(4);
    // A channel rebuilt from its handle is no user's options object.
    expect(Channel.from(ch.handle).capacity).toBe(4);
  });
});
