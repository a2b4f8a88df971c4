// A main-thread stage whose function ignores ctx.signal (a database call that takes no signal):
// a consumer's break and Pipeline.close() waited for it to return, forever if it never did. Now
// such a call is given up at the stop, as an aborted pool task is, and its slot stays taken until
// it really ends. Found by a review (rev-pipe).
import { Pipeline } from 'skein';
import { describe, expect, it } from 'vitest';

const TIMEOUT = Symbol('timeout');
function within<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMEOUT> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<typeof TIMEOUT>((r) => (t = setTimeout(() => r(TIMEOUT), ms)))]).finally(() => clearTimeout(t));
}

/** A stage function that ignores its signal: resolves only when `finish()` is called. */
function deafStage(): { run: (x: number) => number | Promise<number>; finish: () => void; running: () => number; most: () => number } {
  const waiting: (() => void)[] = [];
  let running = 0;
  let most = 0;
  return {
    run: (x) => {
      if (x === 0) return x;
      running++;
      most = Math.max(most, running);
      return new Promise<number>((r) =>
        waiting.push(() => {
          running--;
          r(x);
        }),
      );
    },
    finish: () => {
      for (const f of waiting.splice(0)) f();
    },
    running: () => running,
    most: () => most,
  };
}

describe('Pipeline: a main-thread stage that ignores its signal', () => {
  it('a break returns at once, and close() resolves, while the calls still run', async () => {
    const deaf = deafStage();
    const p = new Pipeline<number>().stage('deaf', { run: deaf.run }, { concurrency: 2 });
    const run = p.processStream([0, 1, 2, 3]);
    expect(await run.next()).toEqual({ value: 0, done: false });
    expect(await within(run.return!(), 2_000)).toEqual({ value: undefined, done: true });
    expect(await within(p.close(), 2_000)).toBeUndefined();
    expect(deaf.running()).toBe(2); // given up, not ended: they run on
    deaf.finish();
    await new Promise((r) => setTimeout(r, 10));
    expect(p.metrics().stages[0]).toMatchObject({ inFlight: 0, queued: 0 });
  });

  it('a later run waits for the slots of given-up calls: the concurrency holds', async () => {
    const deaf = deafStage();
    const p = new Pipeline<number>().stage('deaf', { run: deaf.run }, { concurrency: 2 });
    for await (const _ of p.processStream([0, 1, 2, 3])) break; // returns with two calls running on
    expect(deaf.running()).toBe(2);
    const next = p.processBatch([0, 0, 5]);
    await new Promise((r) => setTimeout(r, 50));
    expect(deaf.most()).toBe(2); // the new run started nothing while both slots were held
    deaf.finish(); // the given-up calls end: their slots come back
    await new Promise((r) => setTimeout(r, 10));
    deaf.finish(); // the new run's call of 5
    expect(await within(next, 2_000)).toEqual([0, 0, 5]);
    expect(deaf.most()).toBe(2);
    expect(p.metrics()).toMatchObject({ inFlight: 0 });
  });
});

// A given-up call was counted when it finally returned: an item whose output was thrown away (the
// consumer left, the pipeline was closed, a failure stopped the run) showed up later as done, after
// the pipeline had already accounted for it. A given-up call now counts once, as a failed try, at
// the stop, as a pool stage's aborted task does (chain.ts P4); its end counts nothing.
describe('Pipeline: metrics of main-thread calls given up at a stop', () => {
  /** A stage that ignores its signal: input 0 returns at once, others when `settle()` says (odd ones then throw). */
  function lateStage(): { run: (x: number) => number | Promise<number>; settle: () => void; ended: () => number } {
    const waiting: (() => void)[] = [];
    let ended = 0;
    return {
      run: (x) => {
        if (x === 0) return x;
        return new Promise<number>((resolve, reject) =>
          waiting.push(() => {
            ended++;
            if (x % 2 === 1) reject(new RangeError(`late failure of ${x}`));
            else resolve(x);
          }),
        );
      },
      settle: () => {
        for (const f of waiting.splice(0)) f();
      },
      ended: () => ended,
    };
  }
  const counts = (p: Pipeline<number>): { inFlight: number; done: number; failed: number; deadLettered: number } => {
    const { inFlight, done, failed, deadLettered } = p.metrics().stages[0];
    return { inFlight, done, failed, deadLettered };
  };

  it('a break: the given-up calls count as failed tries at once, and not again when they end', async () => {
    const late = lateStage();
    const p = new Pipeline<number>().stage('late', { run: late.run }, { concurrency: 3 });
    for await (const _ of p.processStream([0, 2, 3, 4])) break; // the calls running then (2, 3, maybe 4) are given up
    const at = counts(p);
    expect(at.done).toBe(1);
    expect(at.inFlight).toBe(0);
    const givenUp = at.failed;
    expect(givenUp).toBeGreaterThanOrEqual(2);
    late.settle(); // one resolves, one rejects, long after the stop
    await new Promise((r) => setTimeout(r, 20));
    expect(late.ended()).toBe(givenUp);
    expect(counts(p)).toEqual({ inFlight: 0, done: 1, failed: givenUp, deadLettered: 0 });
    await p.close();
  });

  it('close() and the signal: each given-up call counts once', async () => {
    const late = lateStage();
    const p = new Pipeline<number>().stage('late', { run: late.run }, { concurrency: 2 });
    const closed = p.processBatch([2, 4]).then(() => undefined, (e: unknown) => e);
    await new Promise((r) => setTimeout(r, 10));
    await p.close();
    expect(((await closed) as Error).name).toBe('AbortError');
    expect(counts(p)).toEqual({ inFlight: 0, done: 0, failed: 2, deadLettered: 0 });
    late.settle();
    await new Promise((r) => setTimeout(r, 20));
    expect(counts(p)).toEqual({ inFlight: 0, done: 0, failed: 2, deadLettered: 0 });

    const ac = new AbortController();
    const q = new Pipeline<number>({ signal: ac.signal }).stage('late', { run: late.run });
    const aborted = q.processBatch([6]).then(() => undefined, (e: unknown) => e);
    await new Promise((r) => setTimeout(r, 10));
    ac.abort();
    expect(((await aborted) as Error).name).toBe('AbortError');
    late.settle();
    await new Promise((r) => setTimeout(r, 20));
    expect(counts(q)).toEqual({ inFlight: 0, done: 0, failed: 1, deadLettered: 0 });
  });

  it('a failure with deadLetter: false stops the run: the other call is not counted done later', async () => {
    const waiting: (() => void)[] = [];
    const p = new Pipeline<number>({ deadLetter: false }).stage(
      'late',
      {
        run: (x: number) =>
          x === 1
            ? Promise.reject(new RangeError('1 fails'))
            : new Promise<number>((r) => waiting.push(() => r(x))),
      },
      { concurrency: 2 },
    );
    await expect(p.processBatch([2, 1])).rejects.toThrow('1 fails');
    expect(counts(p)).toEqual({ inFlight: 0, done: 0, failed: 2, deadLettered: 0 });
    for (const f of waiting.splice(0)) f();
    await new Promise((r) => setTimeout(r, 20));
    expect(counts(p)).toEqual({ inFlight: 0, done: 0, failed: 2, deadLettered: 0 });
  });
});
