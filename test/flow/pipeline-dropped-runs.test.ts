// A pipeline run watched the caller's AbortSignal from the moment it was made until its consumer
// read it to its end or called return(). A run made and never read, one left mid-way without
// return(), one that failed or was closed while nobody read it: each left a listener on the signal
// (one per signal, memory/signal-watch.ts) holding the run, its buffered outputs and its pipeline,
// for as long as the signal lived (often the whole process: a shutdown signal). FanPattern's
// processStream makes a pipeline per call, so each dropped stream left one too.
import { getEventListeners } from 'node:events';
import v8 from 'node:v8';
import vm from 'node:vm';
import { AbortError, FanPattern, Pipeline } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { collect, PoolBag } from '../fixtures/flow-helpers.js';
import { sleep, until } from '../fixtures/pool-helpers.js';

const bag = new PoolBag();
afterEach(() => bag.closeAll());

const listeners = (s: AbortSignal): number => getEventListeners(s, 'abort').length;
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

v8.setFlagsFromString('--expose-gc'); // vitest runs without it; this turns it on for this process
const gc = vm.runInNewContext('gc') as () => void;

/** Collects garbage (and lets finalizers run) until `cond` holds. */
async function collectedUntil(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    gc();
    await sleep(20);
    if (cond()) return;
    if (Date.now() > end) throw new Error(`still not true after ${ms} ms of gc: ${what}`);
  }
}

describe('a pipeline run its consumer dropped lets go of the caller\'s signal', () => {
  it('made and never read: holds no listener (and still hears an abort that came before its first next())', async () => {
    const ctl = new AbortController();
    const p = new Pipeline<number>({ signal: ctl.signal }).stage<number>('a', { run: (x: number) => x + 1 });
    for (let i = 0; i < 50; i++) p.processStream(range(10));
    expect(listeners(ctl.signal)).toBe(0);
    const fan = new FanPattern<number, number>({ run: (x: number) => x, signal: ctl.signal });
    for (let i = 0; i < 50; i++) fan.processStream(range(10));
    expect(listeners(ctl.signal)).toBe(0);
    // A run read later follows the signal from its first next(), an abort before that included.
    const later = p.processStream(range(10));
    ctl.abort(new Error('stop'));
    await expect(later.next()).rejects.toBeInstanceOf(AbortError);
  });

  it('failed or closed while nobody reads it: stops listening at once', async () => {
    const ctl = new AbortController();
    const failing = new Pipeline<number>({ signal: ctl.signal, deadLetter: false }).stage<number>('a', {
      run: (x: number) => {
        if (x === 3) throw new Error('bad input');
        return x;
      },
    });
    const run = failing.processStream(range(1000));
    expect(await run.next()).toEqual({ value: 0, done: false });
    // Input 3 fails the run while its consumer is away: the signal has nothing left to stop, and
    // once its tries have settled the run holds nothing of the pipeline's (its outputs not taken
    // are no longer counted in flight).
    await until(() => listeners(ctl.signal) === 0, 5_000, 'no listener after the failure');
    await until(() => failing.metrics().inFlight === 0, 5_000, 'nothing in flight after the failure');
    await run.return?.();

    const app = new AbortController();
    const p = new Pipeline<number>({ signal: app.signal }).stage<number>('a', { run: (x: number) => x });
    const left = p.processStream(range(1000));
    expect(await left.next()).toEqual({ value: 0, done: false });
    expect(listeners(app.signal)).toBe(1);
    await p.close();
    expect(listeners(app.signal)).toBe(0);
    await until(() => p.metrics().inFlight === 0, 5_000, 'nothing in flight after close()');
  });

  it('left mid-way without return(): let go once collected (listener, in-flight count, deadLetters reader)', async () => {
    const app = new AbortController();
    const pool = bag.make(1);
    const p = new Pipeline<number>({ signal: app.signal }).stage<number>('a', { pool, fn: 'inc' }, { concurrency: 2 });
    const letters = collect(p.deadLetters); // waits for the runs made below to end
    // In a function of its own, so no frame of the test keeps a run.
    const readTwoAndLeave = async (): Promise<void> => {
      const run = p.processStream(range(1000));
      expect(await run.next()).toEqual({ value: 1, done: false });
      expect(await run.next()).toEqual({ value: 2, done: false });
    };
    for (let i = 0; i < 10; i++) await readTwoAndLeave();
    expect(listeners(app.signal)).toBe(1);
    expect(p.metrics().inFlight).toBeGreaterThan(0); // their outputs not taken, their tasks maybe running
    await collectedUntil(() => listeners(app.signal) === 0 && p.metrics().inFlight === 0, 'the dropped runs let go');
    expect(await Promise.race([letters, sleep(2_000).then(() => 'still waiting')])).toEqual([]);
    // The pipeline works on, and its close() has nothing of theirs to wait for.
    expect(await p.processBatch([5, 6])).toEqual([6, 7]);
    await p.close();
    expect(listeners(app.signal)).toBe(0);

    // FanPattern.processStream: a pipeline per call on the caller's signal.
    const fan = new FanPattern<number, number>({ run: async (x: number) => x, signal: app.signal, concurrency: 2 });
    const readOneAndLeave = async (): Promise<void> => {
      expect(await fan.processStream(range(1000)).next()).toEqual({ value: 0, done: false });
    };
    for (let i = 0; i < 10; i++) await readOneAndLeave();
    expect(listeners(app.signal)).toBe(1);
    await collectedUntil(() => listeners(app.signal) === 0, 'the dropped streams let go');
  });
});
