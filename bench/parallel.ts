/**
 * Data-parallel benchmark: `parallelFor` over one shared Float64Array against the same loop on one
 * thread and the same loop written by hand with piscina (chunks copied out, transferred, copied back).
 *
 * ```sh
 * npm run build && node --expose-gc dist/bench/parallel.js                   # 256 MiB, 2 threads, 5 rounds
 * node --expose-gc dist/bench/parallel.js --mib 256 --threads 16 --rounds 3 --reps 1 --uneven-reps 8
 * ```
 *
 * All variants run in one process, round-robin, each round in the same order, and the best round of
 * each is shown (the machine is shared; the best round is the least disturbed). RSS growth is the
 * peak resident set during a call (sampled every millisecond, and right after piscina's chunks are
 * copied out) minus the resident set just before it; the array itself is resident before any call.
 * It is taken in a second call of each variant, so that the sampler does not slow the timed one.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { FixedWorkerPool, parallelFor } from '../src/index.js';
import { kernel, type KernelArg } from '../workers/parallel-kernels.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const MIB = arg('mib', 256);
const THREADS = arg('threads', 2);
const ROUNDS = arg('rounds', 5);
const REPS = arg('reps', 1);
const UNEVEN_REPS = arg('uneven-reps', 8);
const PISCINA_CHUNKS = arg('piscina-chunks', THREADS * 8);

const n = (MIB * 1024 * 1024) / 8;
const a = new Float64Array(new SharedArrayBuffer(n * 8));
for (let i = 0; i < n; i++) a[i] = i % 1000;

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const rss = (): number => process.memoryUsage.rss();

/**
 * Runs `f`, returning its time in ms and the resident set's growth over the call, in bytes. The
 * two come from separate calls: the RSS sampler (a 1 ms timer reading /proc on this thread) would
 * take CPU from the workers of the parallel variants but never from the serial loop, which holds
 * the thread, so a timed call runs without it.
 */
async function measure(f: (peak: () => void) => Promise<void> | void): Promise<{ ms: number; grew: number }> {
  gc();
  const t0 = performance.now();
  await f(() => {});
  const ms = performance.now() - t0;
  gc();
  const before = rss();
  let peak = before;
  const sample = (): void => {
    const r = rss();
    if (r > peak) peak = r;
  };
  const timer = setInterval(sample, 1);
  await f(sample);
  clearInterval(timer);
  sample();
  return { ms, grew: peak - before };
}

const skein = new FixedWorkerPool(THREADS, { filename: new URL('../workers/parallel-kernels.js', import.meta.url) });
const piscina = new Piscina({
  filename: new URL('../workers/parallel-piscina.js', import.meta.url).href,
  minThreads: THREADS,
  maxThreads: THREADS,
  idleTimeout: 60_000,
});

const opts = (reps: number, ramp = false): KernelArg => ({ reps, ramp, n, base: 0 });

function single(arr: Float64Array, o: KernelArg): void {
  kernel(0, arr.length, arr, o);
}

function skeinFor(arr: Float64Array, o: KernelArg): Promise<void> {
  return parallelFor(arr, 'kernel', { pool: skein, arg: { ...o, n: arr.length } });
}

/** The hand-written piscina loop: copy each chunk out, transfer it, copy the answer back. */
async function piscinaFor(arr: Float64Array, o: KernelArg, peak: () => void = () => {}): Promise<void> {
  const len = arr.length;
  const chunk = Math.ceil(len / PISCINA_CHUNKS);
  const runs: Promise<void>[] = [];
  for (let s = 0; s < len; s += chunk) {
    const part = arr.slice(s, Math.min(len, s + chunk));
    const task = { buf: part.buffer, o: { ...o, n: len, base: s } };
    runs.push(
      piscina.run(task, { transferList: [part.buffer] }).then((buf: ArrayBuffer) => {
        arr.set(new Float64Array(buf), s);
      }),
    );
  }
  peak();
  await Promise.all(runs);
}

// Warm-up: JIT the loop on every thread, start every worker.
const small = new Float64Array(new SharedArrayBuffer(8 * (1 << 20)));
for (let i = 0; i < 3; i++) {
  single(small, opts(REPS));
  await skeinFor(small, opts(REPS));
  await piscinaFor(small, opts(REPS));
  await skeinFor(small, opts(UNEVEN_REPS, true));
}

type Row = { ms: number; grew: number };
const best: Record<string, Row> = {};
const keep = (name: string, r: Row): void => {
  const b = best[name];
  best[name] = { ms: Math.min(b?.ms ?? Infinity, r.ms), grew: Math.max(b?.grew ?? 0, r.grew) };
};
const load0 = os.loadavg()[0];
for (let r = 0; r < ROUNDS; r++) {
  keep('one thread', await measure(() => single(a, opts(REPS))));
  keep('skein parallelFor', await measure(() => skeinFor(a, opts(REPS))));
  keep('piscina, chunks transferred', await measure((peak) => piscinaFor(a, opts(REPS), peak)));
  keep('skein parallelFor, even (uneven scenario)', await measure(() => skeinFor(a, opts(UNEVEN_REPS))));
  keep('skein parallelFor, uneven (cost linear in index)', await measure(() => skeinFor(a, opts(UNEVEN_REPS, true))));
}
const load1 = os.loadavg()[0];
await skein.close();
await piscina.destroy();

const bytes = n * 8;
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(
  `\n${MIB} MiB Float64Array (${n} elements), ${THREADS} threads, ${ROUNDS} rounds (best shown), reps ${REPS}, uneven reps ${UNEVEN_REPS}`,
);
console.log(
  `machine: ${os.availableParallelism()} CPUs (${cpu}), Node ${process.version}, load average ${load0.toFixed(1)} -> ${load1.toFixed(1)}\n`,
);
console.log('| variant | ms | RSS growth (MiB) | RSS growth / array |');
console.log('|---|---:|---:|---:|');
for (const [name, r] of Object.entries(best)) {
  console.log(`| ${name} | ${r.ms.toFixed(1)} | ${(r.grew / 2 ** 20).toFixed(1)} | ${((100 * r.grew) / bytes).toFixed(1)}% |`);
}
const one = best['one thread'].ms;
const sk = best['skein parallelFor'];
const pi = best['piscina, chunks transferred'].ms;
const even = best['skein parallelFor, even (uneven scenario)'].ms;
const uneven = best['skein parallelFor, uneven (cost linear in index)'].ms;
const ok = (b: boolean): string => (b ? 'met' : 'MISSED');
const speedup = one / sk.ms;
const target = THREADS === 2 ? 1.85 : THREADS * 0.875;
console.log(`\nspeedup over one thread: ${speedup.toFixed(2)}x (target >= ${target.toFixed(2)}x: ${ok(speedup >= target)})`);
console.log(`over hand-written piscina: ${(pi / sk.ms).toFixed(2)}x (target >= 1.5x: ${ok(pi / sk.ms >= 1.5)})`);
console.log(`RSS growth: ${((100 * sk.grew) / bytes).toFixed(1)}% of the array (target < 10%: ${ok(sk.grew < 0.1 * bytes)})`);
console.log(`uneven / even: ${(uneven / even).toFixed(3)}x (target <= 1.15x: ${ok(uneven / even <= 1.15)})`);
