// Pipeline behaviour a user meets at the edges, found by a review (rev-pipe): a deadLetters reader
// that stops (later letters go back to the run instead of queuing for nobody), one waiting when the
// pipeline is closed, the documented output-then-letters order, option types, metrics() before a run.
import { InvalidArgumentError, Pipeline, UnhandledDeadLettersError } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { collect, PoolBag } from '../fixtures/flow-helpers.js';
import { until } from '../fixtures/pool-helpers.js';

const bag = new PoolBag();
afterEach(() => bag.closeAll());

describe('Pipeline: a deadLetters reader that stops', () => {
  it('later failures are reported by the run, not queued for nobody', async () => {
    const pool = bag.make(1);
    const p = new Pipeline<number>().stage<number>('even', { pool, fn: 'failIfOdd' });
    const seen: number[] = [];
    const reading = (async () => {
      for await (const d of p.deadLetters) {
        seen.push(d.input);
        break; // enough: the reader leaves
      }
    })();
    await expect(p.processBatch([0, 1, 2])).resolves.toEqual([0, 2]);
    await reading;
    expect(seen).toEqual([1]);
    // Nobody reads dead letters any more: this run's failure must not vanish into the queue.
    const err = await p.processBatch([4, 5, 6]).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(UnhandledDeadLettersError);
    expect((err as UnhandledDeadLettersError).first.input).toBe(5);
  });

  it('a reader that stays still gets every letter while another one stops', async () => {
    const pool = bag.make(1);
    const p = new Pipeline<number>().stage<number>('even', { pool, fn: 'failIfOdd' });
    const all = collect(p.deadLetters);
    const quitter = (async () => {
      for await (const _ of p.deadLetters) break;
    })();
    const out = await p.processBatch([0, 1, 2, 3, 4, 5]);
    await quitter;
    expect(out).toEqual([0, 2, 4]);
    const letters = (await all).map((d) => d.input);
    // The quitter took at most one; the other reader got the rest, and no run threw.
    expect(letters.length).toBeGreaterThanOrEqual(2);
  });

  it('reading the getter again after a stop queues letters again', async () => {
    const pool = bag.make(1);
    const p = new Pipeline<number>().stage<number>('even', { pool, fn: 'failIfOdd' });
    const first = (async () => {
      for await (const _ of p.deadLetters) break;
    })();
    await p.processBatch([1]);
    await first;
    const run = p.processBatch([2, 3]); // made first: a reader begun between runs ends at once (rule 2)
    const letters = collect(p.deadLetters);
    expect(await run).toEqual([2]);
    expect((await letters).map((d) => d.input)).toEqual([3]);
  });
});

describe('Pipeline: a deadLetters reader that ends by itself (its loop ran out after the run)', () => {
  it('later failures are reported by the run, not queued for nobody, as after a break', async () => {
    const pool = bag.make(1);
    const p = new Pipeline<number>().stage<number>('even', { pool, fn: 'failIfOdd' });
    const letters = collect(p.deadLetters);
    expect(await p.processBatch([0, 1, 2])).toEqual([0, 2]);
    expect((await letters).map((d) => d.input)).toEqual([1]); // the run ended: so did the loop
    // Nobody reads dead letters any more: these failures must neither pile up unread nor vanish.
    for (const batch of [[4, 5, 6], [7, 8]]) {
      const err = await p.processBatch(batch).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(UnhandledDeadLettersError);
      expect((err as UnhandledDeadLettersError).first.input).toBe(batch.find((n) => n % 2 === 1));
    }
    // A reader begun now ends at once (no run is active): nothing was queued for it.
    expect(await collect(p.deadLetters)).toEqual([]);
  });

  it('the same holds for the documented order: getter, output, then the letters', async () => {
    const pool = bag.make(1);
    const p = new Pipeline<number>().stage<number>('even', { pool, fn: 'failIfOdd' });
    const letters = p.deadLetters;
    expect(await p.processBatch([0, 1])).toEqual([0]);
    expect((await collect(letters)).map((d) => d.input)).toEqual([1]);
    await expect(p.processBatch([3])).rejects.toThrow(UnhandledDeadLettersError);
    // Reading the getter again before the next run keeps its letters for a reader again.
    const again = p.deadLetters;
    expect(await p.processBatch([4, 5])).toEqual([4]);
    expect((await collect(again)).map((d) => d.input)).toEqual([5]);
  });

  it('a getter read while an earlier reader is still open keeps letters for it after that reader ends', async () => {
    const pool = bag.make(1);
    const p = new Pipeline<number>().stage<number>('even', { pool, fn: 'failIfOdd' });
    const first = collect(p.deadLetters);
    const run = p.processBatch([0, 1]);
    const later = p.deadLetters; // read for the next run, iterated only after it
    expect(await run).toEqual([0]);
    expect((await first).map((d) => d.input)).toEqual([1]);
    expect(await p.processBatch([2, 3])).toEqual([2]); // no UnhandledDeadLettersError: 3 is kept for `later`
    expect((await collect(later)).map((d) => d.input)).toEqual([3]);
  });
});

describe('Pipeline: the documented way to read output, then dead letters', () => {
  it('reading the getter before the run, the letters after it, loses nothing and throws nothing', async () => {
    const pool = bag.make(1);
    const p = new Pipeline<number>().stage<number>('even', { pool, fn: 'failIfOdd' });
    const letters = p.deadLetters; // as the class example does it
    const out: number[] = [];
    for await (const n of p.processStream([0, 1, 2, 3])) out.push(n);
    expect(out).toEqual([0, 2]);
    expect((await collect(letters)).map((d) => d.input)).toEqual([1, 3]);
  });
});

describe('Pipeline options', () => {
  it('ordered and deadLetter must be booleans: a string from a config file is refused by name', () => {
    expect(() => new Pipeline({ ordered: 'false' as never })).toThrow(InvalidArgumentError);
    expect(() => new Pipeline({ deadLetter: 'false' as never })).toThrow(/deadLetter/);
    expect(() => new Pipeline({ ordered: false, deadLetter: true })).not.toThrow();
  });
});

describe('Pipeline: a deadLetters reader and close()', () => {
  it('ends once the pipeline is closed, even with a run that was never read or was left mid-way', async () => {
    const pool = bag.make(1);
    const p = new Pipeline<number>().stage<number>('even', { pool, fn: 'failIfOdd' });
    const letters = collect(p.deadLetters);
    const left = p.processStream([0, 1, 2, 3]);
    expect(await left.next()).toEqual({ value: 0, done: false }); // then left without return()
    p.processStream([5, 6]); // made, never read
    await until(() => p.metrics().deadLettered === 2, 10_000); // 1's and 3's letters are queued for the reader
    await p.close();
    const got = await Promise.race([letters, new Promise((r) => setTimeout(() => r('still waiting'), 2_000))]);
    expect(Array.isArray(got) ? got.map((d) => (d as { input: number }).input) : got).toEqual([1, 3]);
  });
});

describe('Pipeline.metrics() before the first run', () => {
  it('gives zeros and leaves the pipeline open to more stages (an empty one too)', () => {
    const pool = bag.make(1);
    const p = new Pipeline<number>();
    expect(p.metrics()).toEqual({ stages: [], inFlight: 0, outputs: 0, deadLettered: 0 });
    p.stage('a', { pool, fn: 'inc' }).stage('b', { pool, fn: 'inc' });
    expect(p.metrics().stages.map((s) => [s.name, s.fused, s.done])).toEqual([
      ['a', true, 0],
      ['b', true, 0],
    ]);
    expect(() => p.stage('c', { run: (x: number) => x })).not.toThrow(); // was: cannot take stages after it has run
    expect(p.metrics().stages.map((s) => s.fused)).toEqual([true, true, false]);
  });
});

describe('Pipeline: a pool stage that throws something other than an Error', () => {
  it('the dead letter names that stage and holds what was thrown, or for a value that cannot be copied the Error pool.submit gives', async () => {
    const pool = bag.make(2);
    const letters: { stage: string; error: unknown; id: number }[] = [];
    // Three stages on one pool fuse into one chain task; the failing one is the second.
    const p = new Pipeline<{ id: number; kind: string }>({ onDeadLetter: (d) => letters.push({ stage: d.stage, error: d.error, id: d.input.id }) })
      .stage('first', { pool, fn: 'echo' })
      .stage('thrower', { pool, fn: 'throwValue' })
      .stage('last', { pool, fn: 'echo' });
    const inputs = [...Array(30).keys()].map((id) => ({ id, kind: ['fn', 'str', 'obj'][id % 3] }));
    expect(await p.processBatch(inputs)).toEqual([]);
    expect(letters).toHaveLength(30);
    for (const l of letters.sort((a, b) => a.id - b.id)) {
      expect(l.stage).toBe('thrower');
      if (l.id % 3 === 0) {
        expect(l.error).toBeInstanceOf(Error);
        expect((l.error as Error).constructor).toBe(Error);
        expect((l.error as Error).message).toMatch(/^task threw a non-Error value: \[Function/);
      } else if (l.id % 3 === 1) expect(l.error).toBe(`boom ${l.id}`);
      else expect(l.error).toEqual({ code: l.id });
    }
    // pool.submit gives the same Error for the function.
    await expect(pool.submit({ id: 0, kind: 'fn' }, { fn: 'throwValue' })).rejects.toThrow(/^task threw a non-Error value: \[Function/);
  });
});
