// A key a pipeline, a stage, fanOut, fanIn, FanPattern or a parallel call does not take was ignored
// without a word: `stage('s', { run }, { concurency: 2 })` ran at the default concurrency,
// `new Pipeline({ deadletter: false })` kept dead-lettering. Such a key is now InvalidArgumentError
// naming it, the keys taken, and the one it is a slip of.
import { FanPattern, fanIn, fanOut, InvalidArgumentError, parallelFor, parallelMap, parallelReduce, Pipeline, RetryPolicy } from 'skein';
import { describe, expect, it } from 'vitest';
import { filePool, rejection } from '../fixtures/pool-helpers.js';

const pool = filePool(1, new URL('../fixtures/parallel-tasks.mjs', import.meta.url));
const id = (x: number): number => x;

describe('unknown option keys of the flow layer', () => {
  it('Pipeline, stage targets, stage options and filter options', async () => {
    expect(() => new Pipeline({ deadletter: false } as never)).toThrow(
      /^Pipeline options take only 'ordered', 'signal', 'deadLetter', 'onDeadLetter', got 'deadletter' \(did you mean 'deadLetter'\?\)$/,
    );
    const p = new Pipeline<number>();
    expect(() => p.stage('a', { run: id, retrys: new RetryPolicy() } as never)).toThrow(
      /^stage 'a' targets take only 'pool', 'fn', 'run', 'concurrency', 'buffer', 'retry', 'breaker', 'timeout', 'limiter', got 'retrys' \(did you mean 'retry'\?\)$/,
    );
    expect(() => p.stage('b', { run: id }, { concurency: 2 } as never)).toThrow(
      /^stage 'b' options take only 'concurrency', 'buffer', 'retry', 'breaker', 'timeout', 'limiter', got 'concurency' \(did you mean 'concurrency'\?\)$/,
    );
    // The target's keys are not options: a pool given in the options was ignored.
    expect(() => p.stage('c', { run: id }, { pool } as never)).toThrow(InvalidArgumentError);
    expect(() => p.stage('d', { run: id }, 'fast' as never)).toThrow(/stage 'd' options must be an object/);
    expect(() => p.filter((x) => x > 0, { concurency: 2 } as never)).toThrow(/^filter options take only 'concurrency', got 'concurency'/);
    // Every documented key is taken, in the target or the options, and one left undefined is no mistake.
    const q = new Pipeline<number>({ ordered: false, signal: new AbortController().signal, deadLetter: true, onDeadLetter: () => {} })
      .stage('a', { run: id, concurrency: 2, buffer: 1, retry: new RetryPolicy({ maxAttempts: 1 }), timeout: 1000 })
      .stage('b', { run: id }, { concurrency: 2, buffer: 1, timeout: undefined, extra: undefined } as never)
      .filter((x) => x > 0, { concurrency: 1 });
    expect((await q.processBatch([0, 1, 2])).sort()).toEqual([1, 2]);
  });

  it('fanOut, fanIn and FanPattern', async () => {
    expect(() => fanOut([1], id, { concurency: 2 } as never)).toThrow(
      /^fanOut options take only 'fn', 'concurrency', 'batchSize', 'ordered', 'allSettled', 'signal', got 'concurency' \(did you mean 'concurrency'\?\)$/,
    );
    expect(() => fanIn([[1]], { stratgy: 'priority' } as never)).toThrow(/^fanIn options take only 'strategy', got 'stratgy' \(did you mean 'strategy'\?\)$/);
    // FanPattern takes its target and fanOut's options but allSettled (processSettled gives every outcome).
    expect(() => new FanPattern<number, number>({ run: id, allSettled: true } as never)).toThrow(
      /^FanPattern options take only 'pool', 'run', 'fn', 'concurrency', 'batchSize', 'ordered', 'signal', got 'allSettled'$/,
    );
    expect(await fanOut([1, 2], id, { concurrency: 2, batchSize: 1, ordered: true, allSettled: false, signal: undefined })).toEqual([1, 2]);
    const fan = new FanPattern<number, number>({ run: id, concurrency: 2, batchSize: 1, ordered: true, signal: new AbortController().signal });
    expect(await fan.process([3, 4])).toEqual([3, 4]);
  });

  it('parallelFor, parallelMap and parallelReduce: each with its own keys', async () => {
    const a = new Float64Array(new SharedArrayBuffer(8 * 16));
    const typo = await rejection(parallelFor(a, (s: number) => s, { pool, chunks: 4 } as never));
    expect(typo).toBeInstanceOf(InvalidArgumentError);
    expect(typo.message).toMatch(
      /^parallelFor options take only 'pool', 'chunk', 'parallelism', 'arg', 'signal', 'timeout', got 'chunks' \(did you mean 'chunk'\?\)$/,
    );
    // `out` is parallelMap's, `identity` and `combine` parallelReduce's.
    expect((await rejection(parallelFor(a, (s: number) => s, { pool, out: a } as never))).message).toMatch(/got 'out'$/);
    expect((await rejection(parallelMap(a, (x: number) => x, { pool, identity: 0 } as never))).message).toMatch(/^parallelMap options .* got 'identity'$/);
    expect((await rejection(parallelReduce(a, (s: number, x: number) => s + x, { pool, out: a } as never))).message).toMatch(
      /^parallelReduce options .* got 'out'$/,
    );
    const b = new Float64Array(new SharedArrayBuffer(8 * 16));
    expect(await parallelMap(a, (x: number) => x + 1, { pool, out: b, chunk: 4, parallelism: 1, arg: 0, timeout: 10_000 })).toBe(b);
    expect(await parallelReduce(b, (s: number, x: number) => s + x, { pool, identity: 0, combine: (x: number, y: number) => x + y })).toBe(16);
  });
});
