// A sync iterable whose elements are promises (`[fetchA(), fetchB()]`), given to Pipeline.processBatch /
// processStream, fanOut, FanPattern and fanIn: each element is awaited before it enters, as `for await`,
// p-map and Readable.from await it. Before, the promise itself became the stage input and ended as a
// dead letter naming the promise (a pool stage could not even clone it). A rejected element is no
// dead letter and crashes nothing: a pipeline run fails with its reason (as for a source whose next()
// throws) and closes the source; fanOut treats it as that input's failure (rejects, or with
// allSettled gives `{ status: 'rejected' }` in its place); fanIn fails the merge with it.
import { FanPattern, fanIn, fanOut, Pipeline, type DeadLetter } from 'skein';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { collect, PoolBag } from '../fixtures/flow-helpers.js';

const bag = new PoolBag();
afterEach(() => bag.closeAll());

const later = <T>(v: T, ms: number): Promise<T> => new Promise((r) => setTimeout(() => r(v), ms));
/** A promise that rejects after `ms`; handled only by whoever reads it. */
const failLater = (err: Error, ms: number): Promise<never> => new Promise((_r, reject) => setTimeout(() => reject(err), ms));

/** A sync iterable of `items` that counts its return() calls. */
function closable<T>(items: T[]): { source: Iterable<T>; returns: () => number } {
  let returns = 0;
  let i = 0;
  const it: IterableIterator<T> = {
    [Symbol.iterator]: () => it,
    next: () => (i < items.length ? { value: items[i++], done: false } : { value: undefined, done: true }),
    return: () => {
      returns++;
      return { value: undefined, done: true };
    },
  };
  return { source: it, returns: () => returns };
}

describe('Pipeline: promise elements of a sync source', () => {
  it('processBatch awaits them, in order, through a pool stage and a run stage; nothing is dead-lettered', async () => {
    const pool = bag.make(2);
    const letters: DeadLetter<number>[] = [];
    const p = new Pipeline<number>({ onDeadLetter: (l) => letters.push(l) })
      .stage<number>('double', { pool, fn: 'double' })
      .stage('label', { run: (n: number) => `n=${n}` });
    const out = await p.processBatch([later(1, 30), Promise.resolve(2), 3, later(4, 5)]);
    expect(letters).toEqual([]);
    expect(out).toEqual(['n=2', 'n=4', 'n=6', 'n=8']);
    expect(p.metrics().inFlight).toBe(0);
  });

  it('processStream and process await them too; an async source\'s values enter as they are (as for await takes them)', async () => {
    const p = new Pipeline<number>().stage('inc', { run: (n: number) => n + 1 });
    expect(await collect(p.processStream([Promise.resolve(10), 20]))).toEqual([11, 21]);
    const seen: unknown[] = [];
    const q = new Pipeline<unknown>().stage('see', { run: (x: unknown) => (seen.push(x), 0) });
    const inner = Promise.resolve(5);
    const asyncSource: AsyncIterable<unknown> = {
      [Symbol.asyncIterator]: () => {
        let sent = false;
        return { next: async () => (sent ? { value: undefined, done: true } : ((sent = true), { value: inner, done: false })) };
      },
    };
    await q.processBatch(asyncSource);
    expect(seen[0]).toBe(inner);
  });

  it('a rejected element fails the run with its reason (no dead letter), closes the source, cancels nothing else lost', async () => {
    const letters: DeadLetter<number>[] = [];
    const done: number[] = [];
    const p = new Pipeline<number>({ onDeadLetter: (l) => letters.push(l) }).stage('keep', {
      run: (n: number) => (done.push(n), n),
    });
    const boom = new RangeError('fetch failed');
    const src = closable<number | Promise<number>>([1, failLater(boom, 10), 3]);
    await expect(p.processBatch(src.source)).rejects.toBe(boom);
    expect(letters).toEqual([]);
    expect(src.returns()).toBe(1); // the iterator did not break itself: it is closed, as for await closes it
    expect(done).toEqual([1]);
    expect(p.metrics().inFlight).toBe(0);
    // The same through a `for await` consumer of processStream.
    const again = closable<number | Promise<number>>([Promise.reject(boom)]);
    await expect(collect(p.processStream(again.source))).rejects.toBe(boom);
    expect(again.returns()).toBe(1);
  });

  it('a run stopped while an element is awaited drops it, rejection included, without an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (r: unknown): void => void unhandled.push(r);
    process.on('unhandledRejection', onUnhandled);
    try {
      const p = new Pipeline<number>().stage('id', { run: (n: number) => n });
      const src = closable<number | Promise<number>>([1, failLater(new Error('late'), 30)]);
      const run = p.processStream(src.source);
      expect(await run.next()).toEqual({ value: 1, done: false });
      await run.return!();
      expect(src.returns()).toBe(1);
      await later(0, 60);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('types: a sync iterable of I | PromiseLike<I> is accepted', () => {
    const p = new Pipeline<number>().stage('s', { run: (n: number) => String(n) });
    expectTypeOf(p.processBatch).parameter(0).toEqualTypeOf<Iterable<number | PromiseLike<number>> | AsyncIterable<number>>();
    // @ts-expect-error: a promise of the wrong type is still refused
    void p.processBatch([Promise.resolve('x')]).catch(() => {});
  });
});

describe('fanOut and FanPattern: promise elements of a sync source', () => {
  it('fanOut awaits them before the call, for a function and for a pool', async () => {
    const got: unknown[] = [];
    const out = await fanOut([later(1, 20), Promise.resolve(2), 3], (x) => {
      expectTypeOf(x).toEqualTypeOf<number>();
      got.push(x);
      return x * 10;
    });
    expect(out).toEqual([10, 20, 30]);
    expect(got.every((x) => typeof x === 'number')).toBe(true);
    const pool = bag.make(2);
    expect(await fanOut([Promise.resolve(4), later(5, 10)], pool, { fn: 'double' })).toEqual([8, 10]);
  });

  it('a slow element holds only its own place in the window (ordered: false lets the others through)', async () => {
    const out = await fanOut([later(1, 60), 2, 3], (x: number) => x * 1, { ordered: false, concurrency: 3 });
    expect(out).toEqual([2, 3, 1]);
  });

  it('a rejected element fails the call with its reason, or with allSettled is that input\'s rejected outcome', async () => {
    const boom = new RangeError('fetch failed');
    const calls: number[] = [];
    const src = closable<number | Promise<number>>([1, failLater(boom, 10), later(3, 5)]);
    await expect(fanOut(src.source, (x: number) => (calls.push(x), x), { concurrency: 1 })).rejects.toBe(boom);
    expect(calls).toEqual([1]);
    expect(src.returns()).toBe(1);
    const all = await fanOut([1, Promise.reject(boom), later(3, 5)], (x: number) => x * 2, { allSettled: true });
    expect(all).toEqual([
      { status: 'fulfilled', value: 2 },
      { status: 'rejected', reason: boom },
      { status: 'fulfilled', value: 6 },
    ]);
  });

  it('FanPattern.process, processSettled and processStream await them', async () => {
    const fan = new FanPattern<number, number>({ run: (x) => x + 1 });
    expect(await fan.process([Promise.resolve(1), 2])).toEqual([2, 3]);
    const boom = new Error('no');
    expect(await fan.processSettled([Promise.reject(boom), later(2, 5)])).toEqual([
      { status: 'rejected', reason: boom },
      { status: 'fulfilled', value: 3 },
    ]);
    expect(await collect(fan.processStream([later(7, 10), 8]))).toEqual([8, 9]);
    const pool = bag.make(1);
    const pooled = new FanPattern<number, number>({ pool, fn: 'double' });
    expect(await pooled.process([Promise.resolve(3)])).toEqual([6]);
    expect(await collect(pooled.processStream([Promise.resolve(4)]))).toEqual([8]);
  });
});

describe('fanIn: promise elements of a sync source', () => {
  it('awaits them: a slow element holds only its own source, and an async source\'s values come as they are', async () => {
    const slow = [later('s1', 60), later('s2', 10)];
    const fast = [Promise.resolve('f1'), 'f2'];
    // A value an async source gives is taken as it is (an async generator would await its yield).
    let given = false;
    const asyncSrc = (): AsyncIterableIterator<Promise<string>> => {
      const it: AsyncIterableIterator<Promise<string>> = {
        [Symbol.asyncIterator]: () => it,
        next: async () => (given ? { value: undefined, done: true } : ((given = true), { value: Promise.resolve('a-promise'), done: false })),
      };
      return it;
    };
    const out = await collect(fanIn([slow, fast]));
    expect(out.slice(0, 2)).toEqual(['f1', 'f2']); // the fast source went on while s1 was pending
    expect(out.sort()).toEqual(['f1', 'f2', 's1', 's2']);
    const [v] = await collect(fanIn([asyncSrc()]));
    expect(v).toBeInstanceOf(Promise);
    expectTypeOf(fanIn([slow, fast])).toEqualTypeOf<AsyncIterableIterator<string>>();
  });

  it('a rejected element fails the merge with its reason and closes the other sources', async () => {
    const boom = new Error('element failed');
    const other = closable([later(1, 2000)]); // still pending when the merge fails
    const merged = fanIn([[failLater(boom, 5)], other.source], { strategy: 'priority' });
    await expect(collect(merged)).rejects.toBe(boom);
    expect(other.returns()).toBe(1);
  });
});
