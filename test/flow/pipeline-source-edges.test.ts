// A run's source and counts at its edges: a pull still out when the run stops, a source that calls
// back into the run, a stop with items queued and held, a signal aborted before the run starts. Written
// to check the pipeline-run split (0ce99aa) against the code before it; both pass.
import { AbortError, Pipeline } from 'skein';
import { describe, expect, it } from 'vitest';

function zeroed(p: Pipeline<number>): void {
  const m = p.metrics();
  expect(m.inFlight).toBe(0);
  for (const s of m.stages) expect(s.queued).toBe(0);
}

describe('Pipeline: a run\'s source at its edges', () => {
  it('A: async pull outstanding when the consumer stops: closed once, never asked again, late value dropped', async () => {
    const p = new Pipeline<number>().stage<number>('a', { run: (x: number) => x + 1 }, { concurrency: 1, buffer: 0 });
    let nexts = 0;
    let returns = 0;
    const pending: ((r: IteratorResult<number>) => void)[] = [];
    const it: AsyncIterableIterator<number> = {
      [Symbol.asyncIterator]: () => it,
      next: () => {
        nexts++;
        if (nexts === 1) return Promise.resolve({ value: 10, done: false });
        return new Promise((r) => pending.push(r));
      },
      return: () => {
        returns++;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
    const run = p.processStream(it);
    expect(await run.next()).toEqual({ value: 11, done: false });
    await new Promise((r) => setTimeout(r, 20));
    expect(pending.length).toBe(1);
    const ret = run.return!();
    expect(returns).toBe(1);
    pending[0]({ value: 20, done: false });
    await ret;
    await new Promise((r) => setTimeout(r, 20));
    expect(await run.next()).toEqual({ value: undefined, done: true });
    expect(nexts).toBe(2);
    expect(returns).toBe(1);
    expect(p.metrics().outputs).toBe(1);
    zeroed(p);
  });

  it('B: a sync source whose next() calls the run\'s return()', async () => {
    const p = new Pipeline<number>().stage<number>('a', { run: (x: number) => x }, { concurrency: 2, buffer: 2 });
    let nexts = 0;
    let returns = 0;
    const self: { run?: AsyncIterableIterator<number> } = {}; // the run, as its source sees it
    let retP: Promise<unknown> | undefined;
    const it: IterableIterator<number> = {
      [Symbol.iterator]: () => it,
      next: () => {
        nexts++;
        if (nexts === 3) retP = self.run!.return!();
        return { value: nexts, done: false };
      },
      return: () => {
        returns++;
        return { value: undefined, done: true };
      },
    };
    const run = (self.run = p.processStream(it));
    const got: number[] = [];
    for (;;) {
      const r = await run.next();
      if (r.done) break;
      got.push(r.value);
    }
    await retP;
    expect(nexts).toBe(3);
    expect(returns).toBe(1);
    expect(got).toEqual([]);
    zeroed(p);
  });

  it('C: a sync source whose next() aborts the signal: closed once, not asked again, AbortError', async () => {
    const ctl = new AbortController();
    const p = new Pipeline<number>({ signal: ctl.signal }).stage<number>('a', { run: (x: number) => x }, { concurrency: 2, buffer: 2 });
    let nexts = 0;
    let returns = 0;
    const it: IterableIterator<number> = {
      [Symbol.iterator]: () => it,
      next: () => {
        nexts++;
        if (nexts === 3) ctl.abort();
        return { value: nexts, done: false };
      },
      return: () => {
        returns++;
        return { value: undefined, done: true };
      },
    };
    await expect(p.processBatch(it)).rejects.toBeInstanceOf(AbortError);
    expect(nexts).toBe(3);
    expect(returns).toBe(1);
    zeroed(p);
  });

  it('D: a stop with items queued and blocked in two segments counts them all out', async () => {
    const ctl = new AbortController();
    const p = new Pipeline<number>({ signal: ctl.signal })
      .stage<number>('a', { run: (x: number) => x }, { concurrency: 2, buffer: 2 })
      .stage<number>('b', { run: (x: number, ctx: { signal: AbortSignal }) => new Promise<number>((_r, j) => ctx.signal.addEventListener('abort', () => j(new Error('x')))) } as never, { concurrency: 1, buffer: 1 });
    const run = p.processStream(Array.from({ length: 50 }, (_, i) => i));
    const first = run.next();
    await new Promise((r) => setTimeout(r, 50));
    const before = p.metrics();
    ctl.abort();
    await expect(first).rejects.toBeInstanceOf(AbortError);
    expect(before.inFlight).toBeGreaterThan(2);
    zeroed(p);
  });

  it('E: signal aborted at construction: source never asked, closed once', async () => {
    const ctl = new AbortController();
    ctl.abort();
    const p = new Pipeline<number>({ signal: ctl.signal }).stage<number>('a', { run: (x: number) => x });
    let nexts = 0;
    let returns = 0;
    const it: IterableIterator<number> = {
      [Symbol.iterator]: () => it,
      next: () => ({ value: nexts++, done: false }),
      return: () => {
        returns++;
        return { value: undefined, done: true };
      },
    };
    await expect(p.processBatch(it)).rejects.toBeInstanceOf(AbortError);
    expect(nexts).toBe(0);
    expect(returns).toBe(1);
    zeroed(p);
  });

  it('F: an async source that ended is not closed on break; one that rejected is not closed or asked again', async () => {
    const p = new Pipeline<number>().stage<number>('a', { run: async (x: number) => x }, { concurrency: 4 });
    for (const mode of ['end', 'reject'] as const) {
      let nexts = 0;
      let returns = 0;
      const it: AsyncIterableIterator<number> = {
        [Symbol.asyncIterator]: () => it,
        next: () => {
          nexts++;
          if (nexts <= 2) return Promise.resolve({ value: nexts, done: false });
          return mode === 'end' ? Promise.resolve({ value: undefined, done: true }) : Promise.reject(new RangeError('r'));
        },
        return: () => {
          returns++;
          return Promise.resolve({ value: undefined, done: true });
        },
      };
      const run = p.processStream(it);
      const r = await run.next().catch((e: unknown) => e);
      await new Promise((res) => setTimeout(res, 20));
      await run.return!();
      expect(nexts).toBe(3);
      expect(returns).toBe(0);
      void r;
    }
    zeroed(p);
  });
});
