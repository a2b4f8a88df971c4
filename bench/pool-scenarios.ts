/**
 * The child side of the pool benchmark: one (library, scenario, threads) per process, so no library
 * inherits another's heap, JIT state or stray workers. Each scenario warms its pool with a small
 * round first, then times a few rounds; the parent (`bench/pool.ts`) compares the results.
 *
 * Scenarios (sizes are for a full run; `--quick` shrinks them):
 * - `trivial`: 100k `echo` tasks submitted at once (`Promise.all`), tasks/s.
 * - `latency`: 5k `echo` tasks one at a time (await each), per-task latency percentiles.
 * - `cpu10ms`: 64 hash tasks of ~10 ms at once; speedup over the same 64 run serially inline.
 * - `cpu20us`: 50k hash tasks of ~20 µs at once; speedup over the same 50k run inline.
 * - `memory`: 1M `echo` tasks at once; the process's peak RSS, and heapUsed after GC per round.
 *   `floor` is the same caller with no pool: 1M pending promises, resolved later.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { hash } from '../workers/bench-tasks.js';
import { type LibName, type Runner, startLib, type TaskName } from './pool-libs.js';

export const SCENARIOS = ['trivial', 'latency', 'cpu10ms', 'cpu20us', 'memory'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface ChildArgs {
  lib: LibName;
  scenario: Scenario;
  threads: number;
  quick: boolean;
  /** Hash rounds of the ~20 µs task and of the ~10 ms task (calibrated by the parent). */
  iters20: number;
  iters10ms: number;
  /** Memory scenario rounds; default 10 for skein and the floor, 1 for peers. */
  memRounds?: number;
}

export type Metrics = Record<string, number | number[] | string>;

const MiB = 1024 * 1024;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function pct(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error('run the child with --expose-gc');
  g();
  g();
}

interface ThreadTimes {
  mainCpu: number;
  mainSleeps: number;
  otherCpu: number;
  otherPreempted: number;
}

/**
 * CPU time and context switches of this process's threads (Linux `/proc`; zeros elsewhere): the
 * main thread (tid = pid) apart, every other thread (pool workers, and V8's and libuv's helpers)
 * summed. A main-thread voluntary switch is one sleep (one wake-up later); a worker's involuntary
 * switch is a preemption, on a machine with fewer cores than busy threads often by the main thread.
 */
function threadTimes(): ThreadTimes {
  const t: ThreadTimes = { mainCpu: 0, mainSleeps: 0, otherCpu: 0, otherPreempted: 0 };
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return t;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cpuMs = (Number(f[11]) + Number(f[12])) * 10; // utime + stime, in 10 ms ticks
      const status = readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
      const vol = Number(/\nvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
      const nonvol = Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
      if (Number(tid) === process.pid) {
        t.mainCpu += cpuMs;
        t.mainSleeps += vol;
      } else {
        t.otherCpu += cpuMs;
        t.otherPreempted += nonvol;
      }
    } catch {
      // the thread exited between the listing and the read
    }
  }
  return t;
}

/** Per-task thread figures between two snapshots, for `tasks` tasks. */
function perTask(a: ThreadTimes, b: ThreadTimes, tasks: number): Metrics {
  const r = (x: number) => Math.round(x * 100) / 100;
  return {
    mainCpuUsPerTask: r(((b.mainCpu - a.mainCpu) * 1000) / tasks),
    mainSleepsPer1k: r(((b.mainSleeps - a.mainSleeps) * 1000) / tasks),
    otherCpuUsPerTask: r(((b.otherCpu - a.otherCpu) * 1000) / tasks),
    workerPreemptsPer1k: r(((b.otherPreempted - a.otherPreempted) * 1000) / tasks),
  };
}

/** Fills `n` inputs of the same value (the CPU tasks' input is their round count). */
function inputsOf(n: number, value: number | ((i: number) => number)): number[] {
  const a = new Array<number>(n);
  for (let i = 0; i < n; i++) a[i] = typeof value === 'number' ? value : value(i);
  return a;
}

async function timeAll(r: Runner, fn: TaskName, inputs: readonly number[]): Promise<number> {
  const t0 = performance.now();
  const out = await r.runAll(fn, inputs);
  const ms = performance.now() - t0;
  if (out.length !== inputs.length) throw new Error(`got ${out.length} outputs for ${inputs.length} inputs`);
  return ms;
}

/** Serial inline time of `n` hash tasks of `rounds` rounds: best of `passes`, JIT warmed first. */
function inlineMs(n: number, rounds: number, passes: number): number {
  let sink = 0;
  for (let i = 0; i < Math.min(n, 2000); i++) sink ^= hash(rounds);
  let best = Infinity;
  for (let p = 0; p < passes; p++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) sink ^= hash(rounds);
    best = Math.min(best, performance.now() - t0);
  }
  if (sink === 0.5) console.error('unreachable'); // keeps `sink` live
  return best;
}

async function trivial(a: ChildArgs): Promise<Metrics> {
  const n = a.quick ? 20_000 : 100_000;
  const rounds = a.quick ? 2 : 3;
  const r = await startLib(a.lib, a.threads);
  try {
    const inputs = inputsOf(n, (i) => i);
    for (let w = 0; w < 2; w++) await timeAll(r, 'echo', inputs.slice(0, 2000));
    const rates: number[] = [];
    const t0 = threadTimes();
    for (let k = 0; k < rounds; k++) rates.push(n / ((await timeAll(r, 'echo', inputs)) / 1000));
    return {
      n,
      rounds: rates.map(Math.round),
      best: Math.round(Math.max(...rates)),
      median: Math.round(median(rates)),
      ...perTask(t0, threadTimes(), n * rounds),
    };
  } finally {
    await r.close();
  }
}

async function latency(a: ChildArgs): Promise<Metrics> {
  const n = a.quick ? 2000 : 5000;
  const rounds = a.quick ? 2 : 3;
  const r = await startLib(a.lib, a.threads);
  try {
    for (let i = 0; i < 500; i++) await r.run('echo', i);
    const lat = new Float64Array(n);
    const p50s: number[] = [];
    let bestSorted: Float64Array | undefined;
    const t0 = threadTimes();
    for (let k = 0; k < rounds; k++) {
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await r.run('echo', i);
        lat[i] = performance.now() - t0;
      }
      const s = lat.slice().sort();
      p50s.push(pct(s, 0.5) * 1000);
      if (!bestSorted || pct(s, 0.5) < pct(bestSorted, 0.5)) bestSorted = s;
    }
    const s = bestSorted as Float64Array;
    const us = (x: number) => Math.round(x * 10_000) / 10;
    return {
      n,
      p50us: us(pct(s, 0.5)),
      p90us: us(pct(s, 0.9)),
      p99us: us(pct(s, 0.99)),
      meanUs: us(s.reduce((x, y) => x + y, 0) / s.length),
      roundsP50us: p50s.map((x) => Math.round(x * 10) / 10),
      ...perTask(t0, threadTimes(), n * rounds),
    };
  } finally {
    await r.close();
  }
}

async function cpu(a: ChildArgs, n: number, rounds: number, warm: number): Promise<Metrics> {
  const iters = a.scenario === 'cpu10ms' ? a.iters10ms : a.iters20;
  const serial = inlineMs(n, iters, 2);
  const r = await startLib(a.lib, a.threads);
  try {
    const inputs = inputsOf(n, iters);
    for (let w = 0; w < 2; w++) await timeAll(r, 'hash', inputs.slice(0, warm));
    const walls: number[] = [];
    const t0 = threadTimes();
    for (let k = 0; k < rounds; k++) walls.push(await timeAll(r, 'hash', inputs));
    const threads = perTask(t0, threadTimes(), n * rounds);
    const best = Math.min(...walls);
    const round2 = (x: number) => Math.round(x * 100) / 100;
    return {
      n,
      taskUs: round2((serial / n) * 1000),
      inlineMs: round2(serial),
      wallMs: walls.map(round2),
      bestMs: round2(best),
      speedup: round2(serial / best),
      speedupMedian: round2(serial / median(walls)),
      ...threads,
    };
  } finally {
    await r.close();
  }
}

/** The caller's own cost of `n` pending promises: what any pool's caller pays at the least. */
async function floorRound(n: number): Promise<void> {
  const resolvers = new Array<(v: number) => void>(n);
  const ps = new Array<Promise<number>>(n);
  for (let i = 0; i < n; i++) ps[i] = new Promise<number>((res) => (resolvers[i] = res));
  const all = Promise.all(ps);
  // Resolved later, in chunks across event-loop turns, as a pool's results would arrive.
  for (let i = 0; i < n; i += 10_000) {
    await new Promise((r) => setImmediate(r));
    for (let j = i; j < Math.min(n, i + 10_000); j++) resolvers[j](j);
  }
  const out = await all;
  if (out.length !== n) throw new Error('floor lost promises');
}

async function memory(a: ChildArgs): Promise<Metrics> {
  const n = a.quick ? 200_000 : 1_000_000;
  const ours = a.lib === 'floor' || a.lib.startsWith('skein');
  const rounds = a.memRounds ?? (ours ? (a.quick ? 3 : 10) : 1);
  const r = a.lib === 'floor' ? undefined : await startLib(a.lib, a.threads);
  try {
    if (r)
      for (let w = 0; w < 2; w++)
        await timeAll(
          r,
          'echo',
          inputsOf(2000, (i) => i),
        );
    gc();
    const before = process.memoryUsage();
    const startMaxRss = process.resourceUsage().maxRSS * 1024;
    const heap: number[] = [];
    const rss: number[] = [];
    const ms: number[] = [];
    let peakAfterFirst = 0;
    for (let k = 0; k < rounds; k++) {
      const t0 = performance.now();
      if (r)
        await timeAll(
          r,
          'echo',
          inputsOf(n, (i) => i),
        );
      else await floorRound(n);
      ms.push(Math.round(performance.now() - t0));
      if (k === 0) peakAfterFirst = process.resourceUsage().maxRSS * 1024;
      gc();
      const m = process.memoryUsage();
      heap.push(Math.round((m.heapUsed / MiB) * 10) / 10);
      rss.push(Math.round(m.rss / MiB));
    }
    const mib = (x: number) => Math.round(x / MiB);
    return {
      n,
      rounds,
      peakRssMiB: mib(process.resourceUsage().maxRSS * 1024),
      peakRssFirstRoundMiB: mib(peakAfterFirst),
      rssBeforeMiB: mib(before.rss),
      maxRssBeforeMiB: mib(startMaxRss),
      heapBeforeMiB: Math.round((before.heapUsed / MiB) * 10) / 10,
      heapAfterGcMiB: heap,
      rssAfterGcMiB: rss,
      roundMs: ms,
    };
  } finally {
    await r?.close();
  }
}

export async function runChild(a: ChildArgs): Promise<Metrics> {
  switch (a.scenario) {
    case 'trivial':
      return trivial(a);
    case 'latency':
      return latency(a);
    case 'cpu10ms':
      return cpu(a, a.quick ? 32 : 64, a.quick ? 2 : 3, 2 * a.threads);
    case 'cpu20us':
      return cpu(a, a.quick ? 10_000 : 50_000, a.quick ? 2 : 3, 2000);
    case 'memory':
      return memory(a);
  }
}

/** Hash rounds that take `targetUs` microseconds on this thread (median of several timings). */
export function calibrate(targetUs: number): number {
  const probe = 2000;
  for (let i = 0; i < 3000; i++) hash(probe);
  const perRound: number[] = [];
  for (let k = 0; k < 15; k++) {
    const reps = 200;
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) hash(probe);
    perRound.push((performance.now() - t0) / (reps * probe));
  }
  return Math.max(1, Math.round(targetUs / 1000 / median(perRound)));
}
