// Edge cases of fanOut, fanIn and FanPattern found by a review (helper-20): each test failed on 968186a.
import { AbortError, FanPattern, fanIn, fanOut, InvalidArgumentError } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { PoolBag } from '../fixtures/flow-helpers.js';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** What `p` settles to within `ms`: its value, its error, or 'hung'. */
const outcome = (p: Promise<unknown>, ms: number): Promise<unknown> =>
  Promise.race([p.then((v) => v, (e: unknown) => e), tick(ms).then(() => 'hung')]);

describe('fanIn: failures and early exits', () => {
  it('a source that is not iterable: a named error naming it, and the sources opened before it are closed', () => {
    let closed = 0;
    function* first(): Generator<number> {
      try {
        yield 1;
      } finally {
        closed++;
      }
    }
    const a = first();
    a.next(); // started, so return() runs its finally
    expect(() => fanIn([a, 42 as unknown as Iterable<number>])).toThrow(/fanIn source 1 needs an Iterable/);
    expect(closed).toBe(1);
  });

  it('a sync source that throws from next() fails the merge instead of ending it quietly', async () => {
    function* bad(): Generator<number> {
      yield 1;
      throw new RangeError('source broke');
    }
    const out: number[] = [];
    let err: unknown;
    try {
      for await (const x of fanIn([bad()])) out.push(x);
    } catch (e) {
      err = e;
    }
    expect(out).toEqual([1]);
    expect(err).toEqual(new RangeError('source broke'));
  });

  it('a strategy that throws (or returns a bad index) still closes every source', async () => {
    let closed = 0;
    function* endless(): Generator<number> {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        closed++;
      }
    }
    let err: unknown;
    try {
      for await (const _ of fanIn([endless(), endless()], { strategy: () => 99 })) void _;
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(closed).toBe(2);
  });

  it('break returns promptly while another source has a next() pending', async () => {
    async function* quiet(): AsyncGenerator<string> {
      await tick(3000);
      yield 'late';
    }
    const t0 = performance.now();
    for await (const x of fanIn([['a', 'b'], quiet()])) {
      expect(x).toBe('a');
      break;
    }
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it('two next() calls at once both settle', async () => {
    async function* two(): AsyncGenerator<string> {
      await tick(10);
      yield 'a';
      await tick(10);
      yield 'b';
    }
    const merged = fanIn([two()]);
    const r = await outcome(Promise.all([merged.next(), merged.next()]), 1000);
    expect(r).toEqual([
      { value: 'a', done: false },
      { value: 'b', done: false },
    ]);
  });
});

describe('fanOut: failures, aborts and the window', () => {
  it('an abort rejects at once even while the async source is waiting', async () => {
    const ctl = new AbortController();
    async function* slow(): AsyncGenerator<number> {
      yield 1;
      await tick(3000);
      yield 2;
    }
    const run = fanOut(slow(), (x: number) => x, { concurrency: 2, signal: ctl.signal });
    await tick(50);
    const t0 = performance.now();
    ctl.abort();
    await expect(run).rejects.toBeInstanceOf(AbortError);
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it('batchSize never lets more than `concurrency` calls run at once', async () => {
    let now = 0;
    let most = 0;
    await fanOut(
      range(40),
      async (x: number) => {
        most = Math.max(most, ++now);
        await tick(2);
        now--;
        return x;
      },
      { concurrency: 2, batchSize: 8 },
    );
    expect(most).toBeLessThanOrEqual(2);
  });

  it('a source whose return() throws does not leave the call pending', async () => {
    function* src(): Generator<number> {
      try {
        yield 1;
        yield 2;
      } finally {
        // eslint-disable-next-line no-unsafe-finally
        throw new Error('cleanup failed');
      }
    }
    const run = fanOut(
      src(),
      async () => {
        throw new RangeError('task failed');
      },
      { concurrency: 1 },
    );
    expect(await outcome(run, 1000)).toEqual(new RangeError('task failed'));
  });
});

describe('fanOut and fanIn: a source that breaks', () => {
  /** A sync source of 0..n-1 counting its return() calls; next() throws at `throwAt`, or gives `bad` at `badAt`. */
  function probe(n: number, opts: { throwAt?: number; badAt?: number; bad?: unknown } = {}): { source: Iterable<number>; returns: () => number } {
    let i = 0;
    let returns = 0;
    const it: IterableIterator<number> = {
      [Symbol.iterator]: () => it,
      next: () => {
        if (i === opts.throwAt) throw new RangeError('the source broke');
        if (i === opts.badAt) return opts.bad as IteratorResult<number>;
        return i < n ? { value: i++, done: false } : { value: undefined, done: true };
      },
      return: () => {
        returns++;
        return { value: undefined, done: true };
      },
    };
    return { source: it, returns: () => returns };
  }

  it('fanOut: a source whose next() throws fails the call with that error and is not closed (as for...of does)', async () => {
    const src = probe(5, { throwAt: 2 });
    await expect(fanOut(src.source, (x: number) => x, { concurrency: 1 })).rejects.toThrow('the source broke');
    expect(src.returns()).toBe(0);
  });

  it('fanOut: a next() that gives a non-object fails the call with a TypeError, sync or async, and nothing is left unhandled', async () => {
    await expect(fanOut(probe(5, { badAt: 1, bad: 7 }).source, (x: number) => x)).rejects.toBeInstanceOf(TypeError);
    let i = 0;
    const asyncSource = {
      [Symbol.asyncIterator]: () => ({ next: async () => (i++ < 1 ? { value: 1, done: false } : undefined) }),
    } as unknown as AsyncIterable<number>;
    expect(await outcome(fanOut(asyncSource, (x: number) => x), 2000)).toBeInstanceOf(TypeError);
  });

  it('fanIn: a source whose next() gives a non-object fails the merge with a TypeError and closes the others', async () => {
    let closed = 0;
    function* other(): Generator<number> {
      try {
        for (let k = 0; ; k++) yield k;
      } finally {
        closed++;
      }
    }
    const merged = fanIn([other(), probe(3, { badAt: 0, bad: null }).source]);
    await expect((async () => {
      for await (const _ of merged) void _;
    })()).rejects.toBeInstanceOf(TypeError);
    expect(closed).toBe(1);
  });
});

describe('FanPattern: construction and context', () => {
  it('built with an already-aborted signal, it leaves no unhandled rejection', async () => {
    const seen: unknown[] = [];
    const onUnhandled = (r: unknown): void => {
      seen.push(r);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const ctl = new AbortController();
      ctl.abort();
      const fan = new FanPattern<number, number>({ run: (x) => x, signal: ctl.signal });
      await tick(50);
      expect(seen).toEqual([]);
      await expect(fan.process([1])).rejects.toBeInstanceOf(AbortError);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it("processStream gives the function each input's index, as process does", async () => {
    const seen: number[] = [];
    const fan = new FanPattern<string, string>({
      run: (x, { index }) => {
        seen.push(index);
        return x;
      },
      concurrency: 1,
    });
    await fan.process(['a', 'b', 'c']);
    expect(seen).toEqual([0, 1, 2]);
    seen.length = 0;
    for await (const _ of fan.processStream(['a', 'b', 'c'])) void _;
    expect(seen).toEqual([0, 1, 2]);
  });
});

// Found by a later review (rev-fan); each test below failed on 4779ac2.
describe('fanOut and FanPattern: the window with an async source, and listeners on ctx.signal', () => {
  const bag = new PoolBag();
  afterEach(() => bag.closeAll());

  it('an async source with batchSize = concurrency still fills the window (it ran one task at a time)', async () => {
    const counters = new Int32Array(new SharedArrayBuffer(8)); // [0] tasks aborted, [1] tasks begun
    const pool = bag.make(4, { workerData: { counters } });
    async function* lines(): AsyncGenerator<{ ms: number }> {
      for (let i = 0; i < 8; i++) {
        await tick(0);
        yield { ms: 10_000 };
      }
    }
    const ctl = new AbortController();
    const run = fanOut(lines(), pool, { fn: 'sleepy', concurrency: 4, batchSize: 4, signal: ctl.signal });
    const deadline = performance.now() + 3000;
    while (Atomics.load(counters, 1) < 4 && performance.now() < deadline) await tick(10);
    expect(Atomics.load(counters, 1)).toBe(4);
    ctl.abort();
    await expect(run).rejects.toBeInstanceOf(AbortError);
    const until = performance.now() + 3000;
    while (Atomics.load(counters, 0) < 4 && performance.now() < until) await tick(10);
    expect(Atomics.load(counters, 0)).toBe(4); // each running task saw its ctx.signal abort
  });

  it('a function that listens on ctx.signal while it runs trips no MaxListenersExceededWarning at concurrency 20', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      if (w.name === 'MaxListenersExceededWarning') warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      let aborted = 0;
      const polite = async (x: number, { signal }: { signal: AbortSignal }): Promise<number> => {
        const on = (): void => {
          aborted++;
        };
        signal.addEventListener('abort', on); // as fetch(url, { signal }) does while it runs
        try {
          await tick(5);
          if (x === 30) throw new RangeError('thirty');
          return x;
        } finally {
          signal.removeEventListener('abort', on);
        }
      };
      expect(await fanOut(range(25), polite, { concurrency: 20 })).toEqual(range(25));
      const out: number[] = [];
      for await (const x of new FanPattern<number, number>({ run: polite, concurrency: 20 }).processStream(range(25))) out.push(x);
      expect(out).toEqual(range(25));
      // Fail-fast still reaches each running call's signal.
      await expect(fanOut(range(60), polite, { concurrency: 20 })).rejects.toThrow('thirty');
      expect(aborted).toBeGreaterThanOrEqual(19);
      await tick(10); // the warning is emitted on process.nextTick
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('fanOut and FanPattern: a bad fn', () => {
  const bag = new PoolBag();
  afterEach(() => bag.closeAll());

  it('is an InvalidArgumentError at the call (it was one rejected outcome per input) and at the constructor', async () => {
    const pool = bag.make(1);
    expect(() => fanOut([1, 2, 3], pool, { fn: 42 as never, allSettled: true })).toThrow(InvalidArgumentError);
    expect(() => new FanPattern<number, number>({ pool, fn: 42 as never })).toThrow(InvalidArgumentError);
    expect(await fanOut([1, 2], pool, { fn: 'double' })).toEqual([2, 4]);
  });
});

describe('fanOut, fanIn and FanPattern: options that are not what they say', () => {
  it('null options and non-boolean flags are InvalidArgumentErrors at the call (null was a TypeError, ordered: "no" counted as true)', () => {
    const double = (x: number): number => 2 * x;
    expect(() => fanOut([1], double, null as never)).toThrow(InvalidArgumentError);
    expect(() => fanOut([1], double, { ordered: 'no' as never })).toThrow(/ordered/);
    expect(() => fanOut([1], double, { allSettled: 1 as never })).toThrow(/allSettled/);
    expect(() => fanIn([[1]], null as never)).toThrow(InvalidArgumentError);
    expect(() => new FanPattern<number, number>(null as never)).toThrow(InvalidArgumentError);
    expect(() => new FanPattern<number, number>({ run: double, ordered: 0 as never })).toThrow(/ordered/);
  });
});
