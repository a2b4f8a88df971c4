// fanOut, fanIn and FanPattern: order, the concurrency window, allSettled leaving no pending
// promise or listener behind, fail-fast aborting running calls, and the fan-in strategies.
import { getEventListeners } from 'node:events';
import { AbortError, FanPattern, fanIn, fanOut, InvalidArgumentError } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { PoolBag } from '../fixtures/flow-helpers.js';

const bag = new PoolBag();
afterEach(() => bag.closeAll());
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('fanOut', () => {
  it('runs a pool function over every input, in input order, within its window', async () => {
    const pool = bag.make(2);
    expect(await fanOut(range(300), pool, { fn: 'double', concurrency: 8, batchSize: 4 })).toEqual(range(300).map((x) => x * 2));
    let now = 0;
    let most = 0;
    const out = await fanOut(
      range(60),
      async (x: number) => {
        most = Math.max(most, ++now);
        await tick(x % 3);
        now--;
        return x;
      },
      { concurrency: 5, ordered: false },
    );
    expect(most).toBe(5);
    expect([...out].sort((a, b) => a - b)).toEqual(range(60));
  });

  it('allSettled returns every outcome in order and leaves no listener and no pending call', async () => {
    const ctl = new AbortController();
    let pending = 0;
    const out = await fanOut(
      range(2000),
      async (x: number) => {
        pending++;
        try {
          await Promise.resolve();
          if (x % 7 === 0) throw new RangeError(`bad ${x}`);
          return x;
        } finally {
          pending--;
        }
      },
      { concurrency: 16, allSettled: true, signal: ctl.signal },
    );
    expect(out).toHaveLength(2000);
    expect(out[7]).toEqual({ status: 'rejected', reason: new RangeError('bad 7') });
    expect(out[8]).toEqual({ status: 'fulfilled', value: 8 });
    expect(pending).toBe(0);
    expect(getEventListeners(ctl.signal, 'abort')).toHaveLength(0);
  });

  it('fails fast: the first error rejects, aborts running calls and starts nothing more', async () => {
    let started = 0;
    let aborted = 0;
    const err = await fanOut(
      range(100),
      async (x: number, { signal }) => {
        started++;
        if (x === 3) throw new RangeError('three');
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 5000);
          signal.addEventListener('abort', () => {
            clearTimeout(t);
            aborted++;
            resolve();
          });
        });
        return x;
      },
      { concurrency: 4 },
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toEqual(new RangeError('three'));
    expect(started).toBe(4);
    expect(aborted).toBe(3);
  });

  it('a signal stops it with AbortError; bad options are named errors', async () => {
    const ctl = new AbortController();
    const waitForAbort = (_: number, { signal }: { signal: AbortSignal }): Promise<void> =>
      new Promise((resolve) => {
        const t = setTimeout(resolve, 10_000);
        signal.addEventListener('abort', () => {
          clearTimeout(t);
          resolve();
        });
      });
    const run = fanOut(range(10), waitForAbort, { concurrency: 2, signal: ctl.signal });
    ctl.abort();
    await expect(run).rejects.toBeInstanceOf(AbortError);
    expect(() => fanOut([1], (x) => x, { concurrency: 0 })).toThrow(InvalidArgumentError);
    expect(() => fanOut([1], 42 as never)).toThrow(InvalidArgumentError);
  });
});

describe('fanIn', () => {
  async function* timed(name: string, delays: number[]): AsyncGenerator<string> {
    for (const [i, d] of delays.entries()) {
      await tick(d);
      yield `${name}${i}`;
    }
  }

  it('round-robin takes each source in turn, skipping finished ones', async () => {
    const out: string[] = [];
    for await (const x of fanIn([['a0', 'a1', 'a2'], ['b0'], timed('c', [5, 5])], { strategy: 'round-robin' })) out.push(x);
    expect(out).toEqual(['a0', 'b0', 'c0', 'a1', 'c1', 'a2']);
  });

  it('arrival yields whichever is first; priority prefers lower sources when both are ready', async () => {
    const out: string[] = [];
    for await (const x of fanIn([timed('slow', [60, 60]), timed('fast', [1, 1, 1])])) out.push(x);
    expect(out.slice(0, 3)).toEqual(['fast0', 'fast1', 'fast2']);
    expect(out).toHaveLength(5);
    const pr: string[] = [];
    for await (const x of fanIn([['h0', 'h1'], ['l0', 'l1']], { strategy: 'priority' })) pr.push(x);
    expect(pr).toEqual(['h0', 'h1', 'l0', 'l1']);
    const picked: string[] = [];
    for await (const x of fanIn([['x0', 'x1'], ['y0', 'y1']], { strategy: (ready) => ready.length - 1 })) picked.push(x);
    expect(picked).toEqual(['y0', 'y1', 'x0', 'x1']);
  });

  it('closes every source when the consumer stops early', async () => {
    let closed = 0;
    function* endless(tag: string): Generator<string> {
      try {
        for (let i = 0; ; i++) yield `${tag}${i}`;
      } finally {
        closed++;
      }
    }
    let n = 0;
    for await (const _ of fanIn([endless('a'), endless('b')], { strategy: 'round-robin' })) if (++n === 5) break;
    expect(closed).toBe(2);
  });
});

describe('FanPattern', () => {
  it('process, processSettled and processStream over a pool', async () => {
    const pool = bag.make(2);
    const fan = new FanPattern<number, number>({ pool, fn: 'failIfOdd', concurrency: 4 });
    expect(await fan.process([0, 2, 4])).toEqual([0, 2, 4]);
    const settled = await fan.processSettled([2, 3]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected']);
    const out: number[] = [];
    for await (const x of new FanPattern<number, number>({ pool, fn: 'double' }).processStream(range(50))) out.push(x);
    expect(out).toEqual(range(50).map((x) => 2 * x));
    expect(() => new FanPattern({ pool, concurrency: -1 })).toThrow(InvalidArgumentError);
  });
});
