// One AbortSignal shared by many concurrent calls (a request's or a Ctrl-C handler's): each API holds
// one 'abort' listener on it in all, not one per call, so Node prints no MaxListenersExceededWarning
// (it did at the 11th call of each before) and nothing stays on the signal once the calls are over.
import { getEventListeners } from 'node:events';
import { Bulkhead, fanOut, RetryPolicy, Timeout } from 'skein';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { watchWarnings } from '../fixtures/warnings.js';

const CALLS = 30;
const later = <T>(v: T, ms = 10): Promise<T> => new Promise((r) => setTimeout(() => r(v), ms));
const listeners = (s: AbortSignal): number => getEventListeners(s, 'abort').length;

let warnings: ReturnType<typeof watchWarnings>;
beforeEach(() => {
  warnings = watchWarnings();
});
afterEach(() => {
  warnings.stop();
});

/** Starts CALLS calls of `call` on one signal; checks one listener while they run and none after. */
async function shared(call: (signal: AbortSignal, i: number) => Promise<unknown>): Promise<unknown[]> {
  const ctl = new AbortController();
  const calls = Array.from({ length: CALLS }, (_, i) => call(ctl.signal, i));
  expect(listeners(ctl.signal)).toBe(1);
  const out = await Promise.all(calls);
  expect(listeners(ctl.signal)).toBe(0);
  expect(await warnings.names()).not.toContain('MaxListenersExceededWarning');
  return out;
}

describe('many calls on one signal', () => {
  it('RetryPolicy.execute', async () => {
    const retry = new RetryPolicy({ maxAttempts: 2, initialDelay: 1 });
    expect(await shared((signal, i) => retry.execute(() => later(i), { signal }))).toHaveLength(CALLS);
  });

  it('Timeout.execute', async () => {
    const t = new Timeout(5_000);
    expect(await shared((signal, i) => t.execute(() => later(i), { signal }))).toHaveLength(CALLS);
  });

  it('Bulkhead.execute, calls waiting in its queue', async () => {
    const b = new Bulkhead({ maxConcurrent: 1, maxQueue: CALLS });
    expect(await shared((signal, i) => b.execute(() => later(i, 1), { signal }))).toHaveLength(CALLS);
  });

  it('fanOut', async () => {
    const out = await shared((signal, i) => fanOut([i, i + 1], (x: number) => later(x), { concurrency: 2, signal }));
    expect(out[3]).toEqual([3, 4]);
  });

  it('an abort still reaches every call', async () => {
    const t = new Timeout(5_000);
    const ctl = new AbortController();
    const calls = Array.from({ length: CALLS }, () => t.execute(() => later(0, 1_000), { signal: ctl.signal }).catch((e: Error) => e.name));
    ctl.abort();
    expect(await Promise.all(calls)).toEqual(Array.from({ length: CALLS }, () => 'AbortError'));
    expect(listeners(ctl.signal)).toBe(0);
  });
});
