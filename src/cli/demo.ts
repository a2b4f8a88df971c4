#!/usr/bin/env node
/**
 * `npm start`: 40,000 records through a three-stage Pipeline on every core (generate, hash: 20
 * rounds of SHA-256 plus an integer hash chain, gzip), fused into one task per batch of records in
 * the workers, the hash stage guarded by a retry and a circuit breaker shared by all workers, with a
 * few failures injected so retries and dead letters show.
 * A progress bar while it runs (on a terminal), then a summary: throughput, speed-up over one
 * thread measured in the same run, per-stage latency, retries, dead letters, where output went.
 */
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { CircuitBreaker, FixedWorkerPool, Pipeline, RetryPolicy } from '../index.js';
import type { DemoWorkerData } from '../../workers/demo-stages.js';
import { Progress } from './progress.js';
import { availableCores } from '../memory/cores.js';

const ITEMS = Number(process.env.SKEIN_DEMO_ITEMS ?? 40_000);
const SAMPLE = Math.min(ITEMS, 2_000);
const STAGES = ['generate', 'hash', 'gzip'];
const filename = new URL('../../workers/demo-stages.js', import.meta.url);
const outDir = join(os.tmpdir(), 'skein-demo');
const outFile = join(outDir, 'records.jsonl.gz');
const deadFile = join(outDir, 'dead-letters.jsonl');
mkdirSync(outDir, { recursive: true });

const cores = availableCores();
const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
console.log(
  `skein demo: ${fmt(ITEMS)} records through generate -> hash (retry + breaker) -> gzip on ${cores} worker threads\n`,
);

// One thread first, on a sample of other ids, in this same process: the baseline of the speed-up.
type Stage = (x: unknown) => unknown;
const fns = (await import(filename.href)) as Record<'generate' | 'hash' | 'gzip', Stage>;
let t0 = performance.now();
for (let id = ITEMS; id < ITEMS + SAMPLE; id++) {
  try {
    fns.gzip(fns.hash(fns.generate(id)));
  } catch {
    // an injected fault: the pipeline below retries it or letters it
  }
}
const singleRate = SAMPLE / ((performance.now() - t0) / 1000);

// The hash stage's guards: a breaker whose state every worker shares, and a retry (main thread).
const breaker = new CircuitBreaker({
  failureRateThreshold: 0.5,
  window: { kind: 'count', size: 50 },
  minimumCalls: 20,
  resetTimeout: 500,
});
let opened = 0;
breaker.on('stateChange', ({ to }) => {
  if (to === 'open') opened++;
});
let retries = 0;
const retry = new RetryPolicy({ maxAttempts: 3, backoff: 'exponential', initialDelay: 1, maxDelay: 20 });
retry.onRetry(() => retries++);

const demo: DemoWorkerData = { tries: new SharedArrayBuffer(4 * (ITEMS + SAMPLE)) };
const pool = new FixedWorkerPool(cores, { filename, workerData: { demo } });
const dead: string[] = [];
const pipeline = new Pipeline<number>({
  ordered: false,
  onDeadLetter: ({ input, stage, error, attempts }) => {
    const e = error as Error;
    dead.push(JSON.stringify({ input, stage, error: `${e.name}: ${e.message}`, attempts }));
  },
})
  .stage('generate', { pool, fn: 'generate' })
  .stage('hash', { pool, fn: 'hash' }, { retry, breaker })
  .stage<Uint8Array>('gzip', { pool, fn: 'gzip' });

const out = createWriteStream(outFile);
const progress = await Progress.start(ITEMS, undefined, '  ');
let done = 0;
let bytes = 0;
const tick = setInterval(() => progress.update({ items: done + dead.length, failed: dead.length, value: done + dead.length }), 100);
t0 = performance.now();
const ids = function* (): Generator<number> {
  for (let id = 0; id < ITEMS; id++) yield id;
};
// Each record is its own gzip member; `zcat` reads the concatenation as one stream. They are
// written a few hundred at a time: a write per record would cost the main thread a syscall each.
let pending: Uint8Array[] = [];
const flush = async (): Promise<void> => {
  const chunk = Buffer.concat(pending);
  pending = [];
  if (!out.write(chunk)) await once(out, 'drain');
};
for await (const gz of pipeline.processStream(ids())) {
  done++;
  bytes += gz.length;
  pending.push(gz);
  if (pending.length >= 512) await flush();
}
await flush();
const secs = (performance.now() - t0) / 1000;
clearInterval(tick);
progress.update({ items: done + dead.length, failed: dead.length, value: done + dead.length });
progress.stop();
out.end();
await once(out, 'finish');
writeFileSync(deadFile, dead.length ? `${dead.join('\n')}\n` : '');
const workers = pool.getWorkerCount();
const stages = pipeline.metrics().stages;
await pool.close();

const rate = (done + dead.length) / secs;
const row = (cells: string[], widths: number[]): string =>
  `  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')}`;
const w = [22, 14];
console.log(`\n${row(['items', fmt(done + dead.length)], w)}`);
console.log(row(['wall time', `${fmt(secs, 2)} s`], w));
console.log(row([`items/s (${workers} threads)`, fmt(rate)], w));
console.log(row(['items/s (one thread)', fmt(singleRate)], w));
console.log(row(['speed-up', `${fmt(rate / singleRate, 2)}x`], w));
console.log(row(['retries', fmt(retries)], w));
console.log(row(['dead letters', fmt(dead.length)], w));
console.log(row(['breaker', `${breaker.state}, opened ${opened}x`], w));
console.log(`\n${row(['stage', 'p50 (ms)', 'p99 (ms)', 'count'], [10, 10, 10, 10])}`);
for (let i = 0; i < STAGES.length; i++) {
  const s = stages[i].latency;
  console.log(row([STAGES[i], fmt(s.p50, 3), fmt(s.p99, 3), fmt(s.count)], [10, 10, 10, 10]));
}
console.log(`\n  output:       ${outFile} (${fmt(bytes / 1024)} KiB gzip; zcat to read)`);
console.log(`  dead letters: ${deadFile}`);
console.log(`\n  the same from the command line:  npx skein run dist/workers/records.js --fn parse,enrich,pack -i in.jsonl -o out.jsonl`);
