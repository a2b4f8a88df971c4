/**
 * What a `Pipeline` itself costs per item: three trivial stages (`double`) on one pool, fused, with
 * no policy, with a `timeout` on each stage, and with a `CircuitBreaker` on each, in one process.
 * Each variant runs a warm-up pass, then a timed pass; the CPU time of every thread of the process
 * over the timed pass (Linux: `/proc/self/task/<tid>/stat`) is split into the main thread, the two
 * busiest other threads (the pool's workers) and the rest (V8's and libuv's helpers), in µs per item.
 *
 * ```sh
 * node dist/bench/pipeline-overhead.js                      # 200k items, 2 workers
 * node dist/bench/pipeline-overhead.js --items 100000 --threads 2
 * ```
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CircuitBreaker, FixedWorkerPool, Pipeline } from '../src/index.js';

const { values } = parseArgs({
  options: { items: { type: 'string', default: '200000' }, threads: { type: 'string', default: '2' } },
});
const N = Number(values.items);
const TASKS = new URL('../workers/records.js', import.meta.url);

/** CPU ms of each thread of this process, by thread id (Linux only). */
function threadCpu(): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(tid, (Number(f[11]) + Number(f[12])) * 10); // utime + stime, in 10 ms ticks
  }
  return out;
}

type Opts = { timeout?: number; breaker?: CircuitBreaker };
const variants: [string, () => Opts][] = [
  ['plain', () => ({})],
  ['timeout', () => ({ timeout: 10_000 })],
  ['breaker', () => ({ breaker: new CircuitBreaker() })],
];

console.log(`pipeline overhead: 3 trivial stages, ${N} items, ${values.threads} workers, Node ${process.versions.node}`);
console.log('\n| stages | items/s | µs CPU per item: main | workers | other threads |\n|---|---:|---:|---:|---:|');
const items = Array.from({ length: N }, (_, i) => ({ n: i }));
for (const [name, opts] of variants) {
  const pool = new FixedWorkerPool(Number(values.threads), { filename: TASKS });
  const p = new Pipeline<{ n: number }>()
    .stage('a', { pool, fn: 'double' }, opts())
    .stage('b', { pool, fn: 'double' }, opts())
    .stage('c', { pool, fn: 'double' }, opts());
  for await (const _ of p.processStream(items.slice(0, N >> 2)));
  const before = threadCpu();
  const t0 = performance.now();
  for await (const _ of p.processStream(items));
  const secs = (performance.now() - t0) / 1000;
  const spent = [...threadCpu()].map(([tid, ms]) => [tid, ms - (before.get(tid) ?? 0)] as const);
  const main = spent.find(([tid]) => tid === String(process.pid))?.[1] ?? 0;
  const others = spent.filter(([tid]) => tid !== String(process.pid)).map(([, ms]) => ms).sort((x, y) => y - x);
  const workers = others.slice(0, Number(values.threads)).reduce((s, ms) => s + ms, 0);
  const rest = others.slice(Number(values.threads)).reduce((s, ms) => s + ms, 0);
  const per = (ms: number): string => ((ms * 1000) / N).toFixed(2);
  console.log(`| ${name} | ${Math.round(N / secs)} | ${per(main)} | ${per(workers)} | ${per(rest)} |`);
  await pool.close();
}
