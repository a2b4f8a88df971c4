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
