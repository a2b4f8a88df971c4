/**
 * The demo's task module (`npm start`): each task is one record going through three stages in the
 * worker (generate, hash, gzip), the hash stage guarded by a retry and a circuit breaker whose
 * state all workers share. A few records fail on purpose: some once (a retry saves them), some
 * every time (they become dead letters). Stage times go to shared histograms the main thread reads.
 */
import { workerData } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import { BrokenCircuitError, CircuitBreaker, RetryPolicy } from '../src/index.js';
import { SharedHistogram } from '../src/internal.js';
import { enrich, makeRecord, type Rec } from './records.js';

/** What the demo passes as `workerData.demo`. */
export interface DemoWorkerData {
  breaker: unknown;
  /** One histogram buffer per stage: generate, hash, gzip. */
  hists: SharedArrayBuffer[];
  /** Int32 counters: [0] retries. */
  counters: SharedArrayBuffer;
}

/** A task's outcome: the gzipped record, or why it was given up. */
export type DemoResult = { id: number; gz: Uint8Array } | { id: number; dead: { stage: string; error: string; attempts: number } };

/** Failed on purpose by the demo (every 211th record once, every 997th always). */
export class InjectedFault extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InjectedFault';
  }
}

const data = (workerData as { demo?: DemoWorkerData } | undefined)?.demo;
const breaker = data ? CircuitBreaker.from(data.breaker) : new CircuitBreaker({ failureThreshold: 1000 });
const hists = (data?.hists ?? [0, 1, 2].map(() => undefined)).map((b) => new SharedHistogram(b));
const counters = new Int32Array(data?.counters ?? new SharedArrayBuffer(16));
const retry = new RetryPolicy({
  maxAttempts: 3,
  backoff: 'exponential',
  initialDelay: 1,
  maxDelay: 20,
  retryIf: (err) => {
    const again = !(err instanceof BrokenCircuitError);
    if (again) Atomics.add(counters, 0, 1);
    return again;
  },
});

function hashStage(r: Rec, attempt: number): Rec {
  if (r.id % 997 === 0) throw new InjectedFault(`record ${r.id} always fails`);
  if (r.id % 211 === 0 && attempt === 1) throw new InjectedFault(`record ${r.id} fails once`);
  return enrich(r);
}

/** Record `id` through generate, hash (retry + breaker) and gzip. */
export default async function runRecord(id: number): Promise<DemoResult> {
  let t = performance.now();
  const rec = makeRecord(id);
  let t2 = performance.now();
  hists[0].record(t2 - t);
  t = t2;
  let attempts = 0;
  let hashed: Rec;
  try {
    hashed = await retry.execute(({ attempt }) => {
      attempts = attempt;
      return breaker.execute(() => hashStage(rec, attempt));
    });
  } catch (err) {
    // The last try's time counts as the stage's, failed or not.
    hists[1].record(performance.now() - t);
    return { id, dead: { stage: 'hash', error: `${(err as Error).name}: ${(err as Error).message}`, attempts } };
  }
  t2 = performance.now();
  hists[1].record(t2 - t);
  t = t2;
  const gz = gzipSync(JSON.stringify(hashed) + '\n');
  hists[2].record(performance.now() - t);
  return { id, gz };
}
