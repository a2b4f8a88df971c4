/**
 * One AbortSignal shared by a whole batch: N trivial tasks that all carry the same signal, against
 * the same N tasks without a signal, in one process and one run (issue 15). The cost of a signal
 * must stay per task: the ratio must not grow with N.
 *
 * Each round submits N `echo` tasks at once (one `submit` each, as a caller with a Ctrl-C signal
 * would) and awaits them all; the two variants alternate, and the median of `--runs` rounds is
 * shown. The pool (2 workers unless `--threads`) is warmed first and shared by every round.
 *
 * ```sh
 * npm run bench:abort                                   # sizes 10k, 40k, 160k; 5 runs
 * node dist/bench/abort-signal.js --sizes 10000,40000 --runs 3 --threads 2
 * ```
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { FixedWorkerPool } from '../src/index.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const sizes = arg('--sizes', '10000,40000,160000').split(',').map(Number);
const runs = Number(arg('--runs', '5'));
const threads = Number(arg('--threads', '2'));

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
};

const pool = new FixedWorkerPool(threads, { filename: new URL('../workers/bench-tasks.js', import.meta.url) });

async function round(n: number, signal: AbortSignal | undefined): Promise<number> {
  const t0 = performance.now();
  const all: Promise<unknown>[] = new Array(n);
  const opts = signal ? { fn: 'echo', signal } : { fn: 'echo' };
  for (let i = 0; i < n; i++) all[i] = pool.submit(i, opts);
  await Promise.all(all);
  return performance.now() - t0;
}

await round(20_000, undefined); // warm-up: JIT, workers started
await round(20_000, new AbortController().signal);

console.log(
  `# abort-signal bench: ${threads} workers, ${runs} runs, Node ${process.version}, ` +
    `${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}, load ${os.loadavg()[0].toFixed(1)}`,
);
console.log('| tasks | no signal (ms) | one shared signal (ms) | ratio |');
console.log('|---:|---:|---:|---:|');
for (const n of sizes) {
  const plain: number[] = [];
  const shared: number[] = [];
  for (let r = 0; r < runs; r++) {
    // Alternate which variant goes first, so neither always runs on a warmer or colder machine.
    if (r % 2 === 0) {
      plain.push(await round(n, undefined));
      shared.push(await round(n, new AbortController().signal));
    } else {
      shared.push(await round(n, new AbortController().signal));
      plain.push(await round(n, undefined));
    }
  }
  const a = median(plain);
  const b = median(shared);
  console.log(`| ${n} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(b / a).toFixed(2)}x |`);
}
await pool.close();
