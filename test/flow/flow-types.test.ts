// The flow layer's types as a strict TypeScript user meets them (the built declarations through the
// package root): a stage's output type becomes the next stage's input, a type-guard filter narrows,
// a stage target is a pool stage or a run stage (never both), and fanOut's result type follows
// `allSettled`. Each type claim is checked by `tsc -p tsconfig.json` (npm test typechecks); each
// test also runs, so the types are shown to agree with what comes back.
import { FanPattern, fanOut, FixedWorkerPool, InvalidArgumentError, Pipeline, type DeadLetter } from 'skein';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { PoolBag } from '../fixtures/flow-helpers.js';

const bag = new PoolBag();
afterEach(() => bag.closeAll());

describe('Pipeline types', () => {
  it("a run stage's output is the next stage's input; process, processBatch and processStream give the last one's", async () => {
    const p = new Pipeline<string>()
      .stage('len', { run: (s) => s.length })
      .stage('half', { run: async (n) => n / 2 })
      .stage('label', { run: (n) => ({ n }) });
    expectTypeOf(p).toEqualTypeOf<Pipeline<string, { n: number }>>();
    expectTypeOf(p.process).returns.toEqualTypeOf<Promise<{ n: number } | undefined>>();
    expectTypeOf(p.processBatch).returns.toEqualTypeOf<Promise<{ n: number }[]>>();
    expectTypeOf(p.processStream).returns.toEqualTypeOf<AsyncIterableIterator<{ n: number }>>();
    expectTypeOf(p.deadLetters).toEqualTypeOf<AsyncIterable<DeadLetter<string>>>();
    expect(await p.processBatch(['ab', 'abcd'])).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it("a pool stage's output is unknown unless typed", () => {
    const pool = bag.make(1);
    expectTypeOf(new Pipeline<number>().stage('p', { pool, fn: 'double' })).toEqualTypeOf<Pipeline<number, unknown>>();
    expectTypeOf(new Pipeline<number>().stage<number>('p', { pool, fn: 'double' })).toEqualTypeOf<Pipeline<number, number>>();
  });

  it("on a typed pool, a pool stage's output is its function's result, and fn is one of the module's names", async () => {
    const typed = new FixedWorkerPool<typeof import('../fixtures/proxy-tasks.mjs')>(1, { filename: new URL('../fixtures/proxy-tasks.mjs', import.meta.url) });
    try {
      const p = new Pipeline<number>()
        .stage('add', { pool: typed }) // the default export, add100: number -> number
        .stage('xy', { run: (n) => ({ x: n, y: 0 }) })
        .stage('norm', { pool: typed, fn: 'norm' })
        .stage('name', { run: (n) => `n${n}` })
        .stage('greet', { pool: typed, fn: 'greet' }); // async: its awaited result
      expectTypeOf(p).toEqualTypeOf<Pipeline<number, string>>();
      // @ts-expect-error: not a function of the module
      void new Pipeline<number>().stage('x', { pool: typed, fn: 'nope' });
      // The type by hand still wins on a typed pool.
      expectTypeOf(new Pipeline<number>().stage<bigint>('p', { pool: typed })).toEqualTypeOf<Pipeline<number, bigint>>();
      expect(await p.processBatch([1])).toEqual(['hello n101']);
    } finally {
      await typed.close();
    }
  });

  it('a type-guard filter narrows the items that go on, as Array.prototype.filter does', async () => {
    const p = new Pipeline<string | number>()
      .filter((x): x is string => typeof x === 'string')
      .stage('upper', { run: (s) => s.toUpperCase() });
    expectTypeOf(p).toEqualTypeOf<Pipeline<string | number, string>>();
    expect(await p.processBatch(['a', 1, 'b', 2])).toEqual(['A', 'B']);
    // A plain predicate (or an async one) keeps the type.
    const q = new Pipeline<string | number>().filter((x) => String(x).length > 1).filter(async () => true);
    expectTypeOf(q).toEqualTypeOf<Pipeline<string | number, string | number>>();
  });

  it('a stage target with both pool and run does not compile, as it throws', () => {
    const pool = bag.make(1);
    const p = new Pipeline<number>();
    expect(() =>
      // @ts-expect-error exactly one of pool and run
      p.stage('both', { pool, run: (x: number) => x }),
    ).toThrow(InvalidArgumentError);
    expect(() =>
      // @ts-expect-error fn names an export of a pool's module: a run stage has none
      p.stage('run-fn', { run: (x: number) => x, fn: 'double' }),
    ).toThrow(InvalidArgumentError);
    expect(() =>
      // @ts-expect-error a misspelled option is caught too, and throws (it was ignored at run time)
      p.stage('typo', { run: (x: number) => x, concurency: 2 }),
    ).toThrow(/got 'concurency' \(did you mean 'concurrency'\?\)/);
  });
});

describe('fanOut types', () => {
  const twice = (x: number): number => x * 2;

  it('the result type follows allSettled: true, false or left out', async () => {
    const all = await fanOut([1, 2], twice, { allSettled: true });
    expectTypeOf(all).toEqualTypeOf<PromiseSettledResult<number>[]>();
    expect(all).toEqual([
      { status: 'fulfilled', value: 2 },
      { status: 'fulfilled', value: 4 },
    ]);
    expectTypeOf(await fanOut([1, 2], twice)).toEqualTypeOf<number[]>();
    expectTypeOf(await fanOut([1, 2], twice, { allSettled: false, concurrency: 2 })).toEqualTypeOf<number[]>();
  });

  it('allSettled known only at run time gives either shape, not number[] alone', async () => {
    const settle: boolean = Number(process.env.SKEIN_TYPES_TEST_NEVER_SET ?? '1') === 1;
    const out = await fanOut([1, 2], twice, { allSettled: settle });
    expectTypeOf(out).toEqualTypeOf<number[] | PromiseSettledResult<number>[]>();
    expect(out[0]).toEqual({ status: 'fulfilled', value: 2 });
  });

  it("FanPattern's process and processSettled keep their shapes", async () => {
    const fp = new FanPattern({ run: (x: number) => String(x) });
    expectTypeOf(fp).toEqualTypeOf<FanPattern<number, string>>();
    expectTypeOf(await fp.process([1])).toEqualTypeOf<string[]>();
    expectTypeOf(await fp.processSettled([1])).toEqualTypeOf<PromiseSettledResult<string>[]>();
    expect(await fp.process([1, 2])).toEqual(['1', '2']);
  });
});
