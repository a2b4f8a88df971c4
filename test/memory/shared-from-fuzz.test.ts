// Issue 14: X.from() given hostile memory. For every shared class, random buffers (random sizes,
// random bytes, right-size random bytes, real memory with a few bytes changed, another kind's
// memory), with the real configuration or a random one, go to X.from(); on whatever comes back,
// each method is called. Only named skein errors may come out: never a bare TypeError/RangeError,
// a crash or a hang. The runs happen in a worker (fixtures/from-fuzz.mjs) under a watchdog, so a
// loop over damaged memory fails the test instead of stalling the suite.
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';

interface FuzzResult {
  ok: boolean;
  message?: string;
  stats?: { refused: number; built: number; calls: number; namedErrors: number };
}

function fuzz(seed: number, numRuns: number, watchdogMs: number): Promise<FuzzResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('../fixtures/from-fuzz.mjs', import.meta.url), { workerData: { seed, numRuns } });
    const timer = setTimeout(() => {
      void w.terminate();
      reject(new Error(`X.from fuzzing hung: no answer within ${watchdogMs} ms (SKEIN_FUZZ_SEED=${seed} replays it)`));
    }, watchdogMs);
    w.once('message', (m: FuzzResult) => {
      clearTimeout(timer);
      void w.terminate();
      resolve(m);
    });
    w.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

describe('X.from() of random memory', () => {
  it('gives only named errors, for every shared class, and never hangs', async () => {
    const seed = Number(process.env.SKEIN_FUZZ_SEED ?? Date.now() % 1_000_000);
    const r = await fuzz(seed, 600, 60_000);
    expect(r.message, `seed ${seed}`).toBeUndefined();
    expect(r.ok).toBe(true);
    // Preconditions: both branches were exercised (refusals, and objects whose methods ran).
    expect(r.stats!.refused).toBeGreaterThan(100);
    expect(r.stats!.built).toBeGreaterThan(10);
  }, 90_000);
});
