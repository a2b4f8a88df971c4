// Pipeline basics through real workers: fused and unfused stages, order, filters, run stages,
// dead-letter delivery rules, process/processBatch, metrics and the named errors for bad input.
import {
  InvalidArgumentError,
  Pipeline,
  RetryPolicy,
  StageFailedError,
  UnhandledDeadLettersError,
  type DeadLetter,
} from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { collect, PoolBag } from '../fixtures/flow-helpers.js';

const bag = new PoolBag();
afterEach(() => bag.closeAll());

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('Pipeline', () => {
  it('runs fused pool stages, a filter and a run stage, in input order', async () => {
    const pool = bag.make();
    await Promise.all(range(8).map((x) => pool.submit(x, { fn: 'inc' }))); // both workers up
    const p = new Pipeline<number>()
      .stage<number>('inc', { pool, fn: 'inc' })
      .stage<number>('double', { pool, fn: 'double' })
      .filter((x) => x % 3 !== 0)
      .stage('label', { run: async (x: number) => `#${x}` });
    const out = await p.processBatch(range(200));
    const want = range(200)
      .map((x) => (x + 1) * 2)
      .filter((x) => x % 3 !== 0)
      .map((x) => `#${x}`);
    expect(out).toEqual(want);
    const m = p.metrics();
    expect(m.stages.map((s) => [s.name, s.fused])).toEqual([
      ['inc', true],
      ['double', true],
      ['filter#2', false],
      ['label', false],
    ]);
    expect(m.stages[0].done).toBe(200);
    expect(m.stages[1].done).toBe(200);
    expect(m.stages[3].done).toBe(want.length);
    expect(m.stages.every((s) => s.inFlight === 0 && s.queued === 0)).toBe(true);
    expect(m.stages[0].latency.count).toBe(200);
    expect(m.inFlight).toBe(0);
    expect(m.outputs).toBe(want.length);
    // The first window (64 one-item tasks per core) carried the chain's spec, so at most a worker
    // that took none of it answers a few later tasks ChainSpecMissingError (before: all of them).
    expect(pool.metrics().failed).toBeLessThan(16);
  });

  it('a worker that replaces a crashed one learns the chain from a task sent again', async () => {
    const pool = bag.make(1);
    const p = new Pipeline<unknown>().stage('s0', { pool, fn: 's0' }).stage('s1', { pool, fn: 's1' });
    expect(await p.processBatch(range(20))).toEqual(range(20).map((x) => x + 2));
    // The only worker dies; its replacement has never seen the chain, and tasks no longer carry it.
    await expect(p.process({ id: 1, faults: { 0: 'crash' } })).rejects.toMatchObject({ stage: 's0' });
    const failedBefore = pool.metrics().failed;
    expect(await p.processBatch(range(300))).toEqual(range(300).map((x) => x + 2));
    expect(pool.metrics().failed).toBeGreaterThan(failedBefore); // it answered ChainSpecMissingError first
    expect(p.metrics().stages.map((s) => s.done)).toEqual([320, 320]);
  });

  it('a lone item whose task failed with no stage running is judged by that failure, not sent again', async () => {
    // A one-item batch has one suspect: when its task fails (here its output cannot be copied back,
    // after the stage ended) the item fails as exec's try would (P4). Only a batch's other items run
    // again uncounted; a lone item so ran its stage twice for one try.
    const pool = bag.make(1);
    const p = new Pipeline<number>().stage('u', { pool, fn: 'unclonable' });
    await expect(p.process(1)).rejects.toMatchObject({ stage: 'u' });
    const m = pool.metrics();
    expect(m.completed + m.failed).toBe(1);
  });

  it('stages on two pools hand items over and keep order; ordered: false yields all', async () => {
    const a = bag.make(1);
    const b = bag.make(1);
    const p = new Pipeline<number>().stage<number>('a', { pool: a, fn: 'later' }).stage<number>('b', { pool: b, fn: 'double' });
    expect(await p.processBatch(range(100))).toEqual(range(100).map((x) => (x + 1) * 2));
    const u = new Pipeline<number>({ ordered: false })
      .stage<number>('a', { pool: a, fn: 'later' })
      .stage<number>('b', { run: async (x: number) => {
        await new Promise((r) => setTimeout(r, x % 7));
        return x;
      }, }, { concurrency: 8 });
    const out = await u.processBatch(range(100));
    expect(out).not.toEqual(range(100).map((x) => x + 1)); // some overtook others
    expect([...out].sort((x, y) => x - y)).toEqual(range(100).map((x) => x + 1));
  });

  it('between two pools, outputs of every shape reach the next pool as they left the first (handed on in their bytes)', async () => {
    const { kindOf, variety } = await import('../fixtures/flow-tasks.mjs');
    const a = bag.make();
    const b = bag.make();
    const p = new Pipeline<number>().stage('shape', { pool: a, fn: 'variety' }).stage<string>('describe', { pool: b, fn: 'kindOf' });
    // Twice: the first window's batches carry the chain's spec (the object form), later ones go as bytes.
    for (let round = 0; round < 2; round++) {
      expect(await p.processBatch(range(400))).toEqual(range(400).map((i) => kindOf(variety(i))));
    }
  });

  it('between two pools, a retried or rerun item of the second pool gets its value again', async () => {
    const tries = new Int32Array(new SharedArrayBuffer(4 * 8 * 65536)); // fault counts, kept across a crash
    const a = bag.make();
    const b = bag.make(1, { workerData: { tries } });
    const retry = new RetryPolicy({ maxAttempts: 3, initialDelay: 1 });
    const p = new Pipeline<unknown>()
      .stage('s0', { pool: a, fn: 's0' })
      .stage('s1', { pool: b, fn: 's1' }, { retry })
      .stage('s2', { pool: b, fn: 's2' });
    const ids = range(200).map((i) => i + 50_000);
    // The first try of s1 throws for every 3rd item (a retry resumes with s1's input), and one item
    // crashes s1's only worker once (its batch's other items run again from s1's start).
    const inputs = ids.map((id, i) => ({
      id,
      faults: { 1: i % 3 === 0 ? { times: 1, fault: 'throw' } : i === 100 ? { times: 1, fault: 'crash' } : undefined },
    }));
    const out = (await p.processBatch(inputs)) as { id: number; path: number[] }[];
    expect(out.map((o) => o.id)).toEqual(ids);
    for (const o of out) expect(o.path).toEqual([0, 1, 2]);
  });

  it('takes an async source and works as a Readable source', async () => {
    const pool = bag.make();
    async function* src(): AsyncGenerator<number> {
      for (let i = 0; i < 50; i++) yield i;
    }
    const p = new Pipeline<number>().stage<number>('inc', { pool, fn: 'inc' });
    const { Readable } = await import('node:stream');
    const out = await Readable.from(p.processStream(src())).toArray();
    expect(out).toEqual(range(50).map((x) => x + 1));
  });

  it('dead letters: onDeadLetter receives each, outputs go on', async () => {
    const pool = bag.make();
    const got: DeadLetter[] = [];
    const p = new Pipeline<number>({ onDeadLetter: (d) => got.push(d) })
      .stage<number>('even', { pool, fn: 'failIfOdd' })
      .stage<number>('double', { pool, fn: 'double' });
    expect(await p.processBatch(range(10))).toEqual([0, 4, 8, 12, 16]);
    expect(got.map((d) => d.input).sort()).toEqual([1, 3, 5, 7, 9]);
    for (const d of got) {
      expect(d.stage).toBe('even');
      expect(d.attempts).toBe(1);
      expect((d.error as Error).message).toBe(`odd ${String(d.input)}`);
    }
    expect(p.metrics().stages[0].deadLettered).toBe(5);
  });

  it('dead letters: deadLetters, read after the output, holds them; it ends when the run is over', async () => {
    const pool = bag.make();
    const p = new Pipeline<number>().stage<number>('even', { pool, fn: 'failIfOdd' });
    const letters = p.deadLetters; // asked for before the run: they are queued for it
    expect(await p.processBatch(range(10))).toEqual([0, 2, 4, 6, 8]);
    expect((await collect(letters)).map((d) => d.input).sort()).toEqual([1, 3, 5, 7, 9]);
  });

  it('dead letters: read side by side with the output', async () => {
    const pool = bag.make();
    const p = new Pipeline<number>().stage<number>('even', { pool, fn: 'failIfOdd' });
    const out = p.processStream(range(40));
    const [o, d] = await Promise.all([collect(out), collect(p.deadLetters)]);
    expect(o).toEqual(range(40).filter((x) => x % 2 === 0));
    expect(d.map((x) => x.input).sort((a, b) => Number(a) - Number(b))).toEqual(range(40).filter((x) => x % 2 === 1));
  });

  it('dead letters nobody receives make the output throw after its last item, keeping only the first', async () => {
    const pool = bag.make();
    const p = new Pipeline<number>().stage<number>('even', { pool, fn: 'failIfOdd' });
    const seen: number[] = [];
    let err: unknown;
    try {
      for await (const x of p.processStream(range(10))) seen.push(x);
    } catch (e) {
      err = e;
    }
    expect(seen).toEqual([0, 2, 4, 6, 8]);
    expect(err).toBeInstanceOf(UnhandledDeadLettersError);
    expect((err as UnhandledDeadLettersError).count).toBe(5);
    expect((err as UnhandledDeadLettersError).first.stage).toBe('even');
  });

  it('deadLetter: false stops at the first failure with StageFailedError', async () => {
    const pool = bag.make();
    const p = new Pipeline<number>({ deadLetter: false }).stage<number>('even', { pool, fn: 'failIfOdd' }, { concurrency: 1 });
    const err = await p.processBatch(range(10)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StageFailedError);
    expect((err as StageFailedError).stage).toBe('even');
    expect((err as StageFailedError).input).toBe(1);
    // It stopped the run: a failure, not a dead letter (it was counted dead-lettered too).
    const even = p.metrics().stages[0];
    expect(even.failed).toBeGreaterThanOrEqual(1); // and a try the stop cancelled, if one had started
    expect(even.deadLettered).toBe(0);
    expect(p.metrics().deadLettered).toBe(0);
  });

  it('a stage named like a filter does not give two stages one name', () => {
    const run = { run: (x: number) => x };
    const p = new Pipeline<number>().stage<number>('filter#1', run).filter(() => true);
    expect(p.metrics().stages.map((s) => s.name)).toEqual(['filter#1', 'filter#2']);
  });

  it('process(x) resolves the output, undefined when filtered, and rejects with the dead letter', async () => {
    const pool = bag.make();
    const p = new Pipeline<number>().filter((x) => x !== 4).stage<number>('even', { pool, fn: 'failIfOdd' });
    expect(await p.process(2)).toBe(2);
    expect(await p.process(4)).toBeUndefined();
    const err = await p.process(3).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StageFailedError);
    expect((err as StageFailedError).input).toBe(3);
    // Many at once share the stage's slots.
    expect(await Promise.all(range(30).map((x) => p.process(x * 2)))).toEqual(range(30).map((x) => (x * 2 === 4 ? undefined : x * 2)));
  });

  it('gives named errors for bad input at the call site', () => {
    const pool = bag.make(1);
    const p = new Pipeline<number>();
    expect(() => p.stage('', { pool })).toThrow(InvalidArgumentError);
    expect(() => p.stage('a', {} as never)).toThrow(InvalidArgumentError);
    expect(() => p.stage('a', { pool, run: (x: number) => x } as never)).toThrow(InvalidArgumentError);
    expect(() => p.stage('a', { pool }, { concurrency: 0 })).toThrow(/concurrency/);
    expect(() => p.stage('a', { pool }, { buffer: -1 })).toThrow(/buffer/);
    expect(() => p.stage('a', { pool }, { timeout: -5 })).toThrow(/timeout/);
    expect(() => p.stage('a', { pool }, { breaker: {} as never })).toThrow(/breaker/);
    p.stage('a', { pool });
    expect(() => p.stage('a', { pool })).toThrow(/already has a stage named 'a'/);
    expect(() => p.processStream(42 as never)).toThrow(InvalidArgumentError);
    expect(() => new Pipeline<number>().processStream([1])).toThrow(/no stages/);
  });
});
