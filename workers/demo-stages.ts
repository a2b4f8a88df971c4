/**
 * The demo's task module (`npm start`): the three stages of its pipeline, each an export a pool
 * worker runs (generate a record, hash it, gzip it). A few records fail the hash stage on purpose:
 * some once (the stage's retry saves them), some every time (they become dead letters).
 *
 * @example
 * ```ts
 * const pool = new FixedWorkerPool(2, { filename: new URL('./demo-stages.js', import.meta.url), workerData: { demo } });
 * const p = new Pipeline<number>().stage('generate', { pool, fn: 'generate' }).stage('hash', { pool, fn: 'hash' });
 * ```
 */
import { workerData } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import { enrich, makeRecord, type Rec } from './records.js';

/** What the demo passes as `workerData.demo`. */
export interface DemoWorkerData {
  /** Int32 per record id: tries of its hash stage (so "fails once" holds across workers and retries). */
  tries: SharedArrayBuffer;
}

/** Failed on purpose by the demo (every 211th record once, every 997th always). */
export class InjectedFault extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InjectedFault';
  }
}

const data = (workerData as { demo?: DemoWorkerData } | undefined)?.demo;
const tries = new Int32Array(data?.tries ?? new SharedArrayBuffer(4 * 65536));

/** Stage 1: the record with this id. */
export function generate(id: number): Rec {
  return makeRecord(id);
}

/** Stage 2: 20 rounds of SHA-256 plus an integer hash chain; a few records fail on purpose. */
export function hash(r: Rec): Rec {
  const attempt = Atomics.add(tries, r.id % tries.length, 1) + 1;
  if (r.id % 997 === 0) throw new InjectedFault(`record ${r.id} always fails`);
  if (r.id % 211 === 0 && attempt === 1) throw new InjectedFault(`record ${r.id} fails once`);
  return enrich(r);
}

/** Stage 3: the record as one gzip member of a JSON line. */
export function gzip(r: Rec): Uint8Array {
  return gzipSync(JSON.stringify(r) + '\n');
}
