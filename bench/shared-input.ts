/**
 * Shared memory crosses once (issue 10 item 4): N trivial tasks whose input holds the same shared
 * object, against N plain tasks, in one process and one run. Target: within 1.3x of plain.
 *
 * Every input is `{ i, ... }` and the task returns `i` (`field` in workers/bench-tasks.ts), so the
 * variants differ only in what the input holds beside `i`:
 *   plain        `{ i, k: 0 }`                     (a plain object of the same size class)
 *   semaphore    `{ i, sem }`                      (one Semaphore shared by every task)
 *   typed-array  `{ i, arr }`                      (one Int32Array over a SharedArrayBuffer, as parallelFor hands out)
 *   channel      `{ i, ch }`                       (one Channel)
 *   by-message   `{ i, sem }` with `transfer: []`  (with `--by-message`: the postMessage path every shared
 *                                                   task took before; slow, so off by default)
 * Each round submits N tasks at once and awaits them all; variants alternate order, median of `--runs`.
 *
 * ```sh
 * npm run bench:shared                                  # 100k tasks, 3 runs, 2 workers
 * node dist/bench/shared-input.js --n 100000 --runs 3 --threads 2 [--by-message]
 * ```
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Channel, FixedWorkerPool, Semaphore } from '../src/index.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const n = Number(arg('--n', '100000'));
const runs = Number(arg('--runs', '3'));
const threads = Number(arg('--threads', '2'));

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
};

const pool = new FixedWorkerPool(threads, { filename: new URL('../workers/bench-tasks.js', import.meta.url) });
const sem = new Semaphore(4);
const arr = new Int32Array(new SharedArrayBuffer(4096));
const ch = new Channel<number>({ capacity: 16 });

type Variant = { name: string; input: (i: number) => unknown; transfer?: boolean };
const variants: Variant[] = [
  { name: 'plain', input: (i) => ({ i, k: 0 }) },
  { name: 'semaphore', input: (i) => ({ i, sem }) },
  { name: 'typed-array', input: (i) => ({ i, arr }) },
  { name: 'channel', input: (i) => ({ i, ch }) },
];
if (process.argv.includes('--by-message')) variants.push({ name: 'by-message', input: (i) => ({ i, sem }), transfer: true });

async function round(v: Variant, count: number): Promise<number> {
  const t0 = performance.now();
  const all: Promise<unknown>[] = new Array(count);
  const opts = v.transfer ? { fn: 'field', transfer: [] } : { fn: 'field' };
  for (let i = 0; i < count; i++) all[i] = pool.submit(v.input(i), opts);
  const out = (await Promise.all(all)) as number[];
  if (out[count - 1] !== count - 1) throw new Error(`${v.name}: wrong result ${out[count - 1]}`);
  return performance.now() - t0;
}

for (const v of variants) await round(v, Math.min(n, 20_000)); // warm-up: JIT, workers, buffers shipped

console.log(
  `# shared-input bench: ${n} tasks, ${threads} workers, ${runs} runs, Node ${process.version}, ` +
    `${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}, load ${os.loadavg()[0].toFixed(1)}`,
);
const times = new Map(variants.map((v) => [v.name, [] as number[]]));
for (let r = 0; r < runs; r++) {
  const order = r % 2 === 0 ? variants : [...variants].reverse();
  for (const v of order) times.get(v.name)?.push(await round(v, n));
}
const plain = median(times.get('plain') as number[]);
console.log('| input | ms | tasks/s | vs plain |');
console.log('|---|---:|---:|---:|');
for (const v of variants) {
  const ms = median(times.get(v.name) as number[]);
  console.log(`| ${v.name} | ${ms.toFixed(0)} | ${Math.round((n / ms) * 1000)} | ${(ms / plain).toFixed(2)}x |`);
}
await pool.close();
