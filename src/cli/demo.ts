#!/usr/bin/env node
/**
 * `npm start`: 40,000 records through three stages on every core (generate, hash: 20 rounds of
 * SHA-256 plus an integer hash chain, gzip), the hash stage guarded by a retry and a circuit
 * breaker shared by all workers, with a few failures injected so retries and dead letters show.
 * A progress bar while it runs (on a terminal), then a summary: throughput, speed-up over one
 * thread measured in the same run, per-stage latency, retries, dead letters, where output went.
 */
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { CircuitBreaker, FixedWorkerPool } from '../index.js';
import { SharedHistogram } from '../internal.js';
import type { DemoResult, DemoWorkerData } from '../../workers/demo-stages.js';
import { Progress } from './progress.js';

const ITEMS = Number(process.env.SKEIN_DEMO_ITEMS ?? 40_000);
const SAMPLE = Math.min(ITEMS, 2_000);
const STAGES = ['generate', 'hash', 'gzip'];
const filename = new URL('../../workers/demo-stages.js', import.meta.url);
const outDir = join(os.tmpdir(), 'skein-demo');
const outFile = join(outDir, 'records.jsonl.gz');
const deadFile = join(outDir, 'dead-letters.jsonl');
mkdirSync(outDir, { recursive: true });

const cores = os.availableParallelism();
const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
console.log(
  `skein demo: ${fmt(ITEMS)} records through generate -> hash (retry + breaker) -> gzip on ${cores} worker threads\n`,
);

// One thread first, on a sample, in this same process: the baseline the speed-up is measured against.
const { default: runRecord } = (await import(filename.href)) as { default: (id: number) => Promise<DemoResult> };
let t0 = performance.now();
for (let id = 0; id < SAMPLE; id++) await runRecord(id);
const singleRate = SAMPLE / ((performance.now() - t0) / 1000);

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
const hists = STAGES.map(() => new SharedHistogram());
const counters = new SharedArrayBuffer(16);
const demo: DemoWorkerData = { breaker, hists: hists.map((h) => h.sab), counters };
const pool = new FixedWorkerPool(cores, { filename, workerData: { demo } });

const out = createWriteStream(outFile);
const dead: string[] = [];
const progress = new Progress(ITEMS, undefined, '  ');
let done = 0;
let bytes = 0;
const tick = setInterval(() => progress.update({ items: done, failed: dead.length, value: done }), 100);
t0 = performance.now();
for await (const r of pool.map<DemoResult>(
  (function* () {
    for (let id = 0; id < ITEMS; id++) yield id;
  })(),
  { ordered: false },
)) {
  done++;
  if ('dead' in r) dead.push(JSON.stringify({ input: r.id, ...r.dead }));
  else {
    bytes += r.gz.length;
    // Each record is its own gzip member; `zcat` reads the concatenation as one stream.
    if (!out.write(r.gz)) await once(out, 'drain');
  }
}
const secs = (performance.now() - t0) / 1000;
clearInterval(tick);
progress.update({ items: done, failed: dead.length, value: done });
progress.stop();
out.end();
await once(out, 'finish');
writeFileSync(deadFile, dead.length ? `${dead.join('\n')}\n` : '');
const workers = pool.getWorkerCount();
await pool.close();

const rate = done / secs;
const retries = Atomics.load(new Int32Array(counters), 0);
const row = (cells: string[], widths: number[]): string =>
  `  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')}`;
const w = [22, 14];
console.log(`\n${row(['items', fmt(done)], w)}`);
console.log(row(['wall time', `${fmt(secs, 2)} s`], w));
console.log(row([`items/s (${workers} threads)`, fmt(rate)], w));
console.log(row(['items/s (one thread)', fmt(singleRate)], w));
console.log(row(['speed-up', `${fmt(rate / singleRate, 2)}x`], w));
console.log(row(['retries', fmt(retries)], w));
console.log(row(['dead letters', fmt(dead.length)], w));
console.log(row(['breaker', `${breaker.state}, opened ${opened}x`], w));
console.log(`\n${row(['stage', 'p50 (ms)', 'p99 (ms)', 'count'], [10, 10, 10, 10])}`);
for (let i = 0; i < STAGES.length; i++) {
  const s = hists[i].summary();
  console.log(row([STAGES[i], fmt(s.p50, 3), fmt(s.p99, 3), fmt(s.count)], [10, 10, 10, 10]));
}
console.log(`\n  output:       ${outFile} (${fmt(bytes / 1024)} KiB gzip; zcat to read)`);
console.log(`  dead letters: ${deadFile}`);
console.log(`\n  the same from the command line:  npx skein run dist/workers/records.js --fn parse,enrich,pack -i in.jsonl -o out.jsonl`);
