/**
 * Pool benchmark: skein against piscina, tinypool, poolifier and workerpool.
 *
 * Every (library, scenario, threads) runs in its own child process (`--child`, see
 * `bench/pool-scenarios.ts`), one after another, so none shares a heap, a JIT or the CPU with
 * another. The parent calibrates the CPU tasks once, collects each child's JSON line and prints
 * markdown tables with ratios against the best peer, poolifier and workerpool, and the targets.
 *
 * ```sh
 * npm run bench:pool                        # full run (~6-10 min on 2 cores)
 * node dist/bench/pool.js --quick           # ~2 min
 * node dist/bench/pool.js --threads 2,4,8,16 --scenarios trivial,cpu20us --libs skein,skein-batch,piscina,poolifier
 * node dist/bench/pool.js --scenarios trivial --libs skein --cpu-prof   # profiles in bench/out/profiles/
 * node dist/bench/pool.js --json bench/out/pool.json                   # raw results too
 * node dist/bench/pool.js --report bench/out/pool.json                 # tables again from saved runs
 * node dist/bench/pool.js --repeat 2        # every child twice, interleaved; best run of each
 * ```
 *
 * Children run from a private copy of dist/ (see `snapshotDist`; `--no-snapshot` runs them from
 * dist/ itself), and each child is killed past `--timeout` seconds (default 300).
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ALL_LIBS, type LibName, PEERS } from './pool-libs.js';
import {
  type ChildArgs,
  calibrate,
  type Metrics,
  runChild,
  SCENARIOS,
  type Scenario,
} from './pool-scenarios.js';

const DEFAULT_LIBS: Record<Scenario, LibName[]> = {
  trivial: ['skein', 'skein-batch', 'piscina', 'tinypool', 'poolifier', 'poolifier-map', 'workerpool'],
  latency: ['skein', 'skein-nospin', 'skein-spin', 'piscina', 'tinypool', 'poolifier', 'workerpool'],
  cpu10ms: ['skein', 'skein-batch', 'piscina', 'tinypool', 'poolifier', 'workerpool'],
  cpu20us: ['skein', 'skein-batch', 'piscina', 'tinypool', 'poolifier', 'poolifier-map', 'workerpool'],
  // tinypool and workerpool take minutes for a million tasks; ask for them with --libs.
  memory: ['floor', 'skein', 'skein-batch', 'piscina', 'poolifier'],
};

interface Result {
  lib: LibName;
  scenario: Scenario;
  threads: number;
  seconds: number;
  metrics?: Metrics;
  error?: string;
}

const MARK = '@@RESULT ';

function argValue(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

function list<T extends string>(s: string | undefined, allowed: readonly T[], what: string): T[] | undefined {
  if (s === undefined) return undefined;
  const xs = s.split(',').filter(Boolean) as T[];
  for (const x of xs)
    if (!allowed.includes(x)) throw new Error(`unknown ${what} '${x}'; known: ${allowed.join(', ')}`);
  return xs;
}

// ------------------------------------------------------------------------------------------ child

async function child(argv: string[]): Promise<void> {
  const i = argv.indexOf('--child');
  const a: ChildArgs = {
    lib: argv[i + 1] as LibName,
    scenario: argv[i + 2] as Scenario,
    threads: Number(argv[i + 3]),
    quick: argv.includes('--quick'),
    iters20: Number(argValue(argv, '--iters20')),
    iters10ms: Number(argValue(argv, '--iters10ms')),
    memRounds: argValue(argv, '--mem-rounds') ? Number(argValue(argv, '--mem-rounds')) : undefined,
  };
  // Exit 13 (unsettled top-level await) prints nothing by itself; say what it means.
  process.on('beforeExit', () => {
    console.error(
      `${a.lib} ${a.scenario}: the event loop emptied while the scenario was pending (a lost task?)`,
    );
  });
  const metrics = await runChild(a);
  process.stdout.write(`${MARK}${JSON.stringify(metrics)}\n`);
  // Some peers leave timers or workers behind after close; the result is out, so leave now.
  process.exit(0);
}

function runOne(
  script: string,
  lib: LibName,
  scenario: Scenario,
  threads: number,
  extra: string[],
  nodeFlags: string[],
  timeoutS: number,
): Promise<Result> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const args = [...nodeFlags, '--expose-gc', script, '--child', lib, scenario, String(threads), ...extra];
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => {
      err += d;
      process.stderr.write(d);
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutS * 1000);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = Math.round((Date.now() - t0) / 100) / 10;
      const line = out.split('\n').find((l) => l.startsWith(MARK));
      if (line) resolve({ lib, scenario, threads, seconds, metrics: JSON.parse(line.slice(MARK.length)) });
      else {
        const why = signal === 'SIGKILL' ? `killed after ${timeoutS} s` : `exit ${code ?? signal}`;
        resolve({
          lib,
          scenario,
          threads,
          seconds,
          error: `${why}: ${err.trim().split('\n').slice(-3).join(' | ')}`,
        });
      }
    });
  });
}

// ------------------------------------------------------------------------------------------ tables

const fmt = (x: number | undefined, d = 0): string =>
  x === undefined || !Number.isFinite(x)
    ? '-'
    : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined || b === 0 ? '-' : `${fmt(a / b, 2)}x`;

function num(r: Result | undefined, key: string): number | undefined {
  const v = r?.metrics?.[key];
  return typeof v === 'number' ? v : undefined;
}

function isPeer(lib: LibName): boolean {
  return (PEERS as readonly string[]).includes(lib);
}

/** The metric each scenario ranks by, and whether higher is better. */
const KEY: Record<Exclude<Scenario, 'memory'>, [string, boolean]> = {
  trivial: ['best', true],
  latency: ['p50us', false],
  cpu10ms: ['speedup', true],
  cpu20us: ['speedup', true],
};

function bestPeer(rs: Result[], key: string, higher: boolean): Result | undefined {
  let best: Result | undefined;
  for (const r of rs) {
    const v = num(r, key);
    if (!isPeer(r.lib) || v === undefined) continue;
    const b = num(best, key);
    if (b === undefined || (higher ? v > b : v < b)) best = r;
  }
  return best;
}

function table(scenario: Scenario, rs: Result[]): string[] {
  const out: string[] = [];
  const by = (lib: string) => rs.find((r) => r.lib === lib);
  const errors = rs.filter((r) => r.error).map((r) => `- ${r.lib}: ERROR ${r.error}`);
  if (scenario === 'memory') {
    const floor = num(by('floor'), 'peakRssMiB');
    out.push(
      '| lib | peak RSS MiB | x floor | RSS before MiB | heapUsed after GC per round (MiB) | round ms |',
    );
    out.push('|---|---:|---:|---:|---|---|');
    for (const r of rs) {
      if (!r.metrics) continue;
      const m = r.metrics;
      const heap = (m.heapAfterGcMiB as number[]).join(', ');
      const ms = (m.roundMs as number[]).join(', ');
      out.push(
        `| ${r.lib} | ${fmt(num(r, 'peakRssMiB'))} | ${ratio(num(r, 'peakRssMiB'), floor)} | ${fmt(num(r, 'rssBeforeMiB'))} | ${heap} | ${ms} |`,
      );
    }
    return [...out, ...errors];
  }
  const [key, higher] = KEY[scenario];
  const bp = bestPeer(rs, key, higher);
  const rel = (r: Result, other: Result | undefined) => ratio(num(r, key), num(other, key));
  const peerCols = `vs best peer (${bp?.lib ?? '-'}) | vs poolifier | vs workerpool | main CPU µs/task | main sleeps/1k tasks | worker preemptions/1k tasks`;
  const th = (r: Result) =>
    `${fmt(num(r, 'mainCpuUsPerTask'), 2)} | ${fmt(num(r, 'mainSleepsPer1k'))} | ${fmt(num(r, 'workerPreemptsPer1k'))}`;
  if (scenario === 'trivial') {
    out.push(`| lib | best tasks/s | median tasks/s | ${peerCols} |`);
    out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of rs) {
      if (!r.metrics) continue;
      out.push(
        `| ${r.lib} | ${fmt(num(r, 'best'))} | ${fmt(num(r, 'median'))} | ${rel(r, bp)} | ${rel(r, by('poolifier'))} | ${rel(r, by('workerpool'))} | ${th(r)} |`,
      );
    }
  } else if (scenario === 'latency') {
    out.push(`| lib | p50 µs | p90 µs | p99 µs | mean µs | p50 per round | ${peerCols} |`);
    out.push('|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|');
    for (const r of rs) {
      if (!r.metrics) continue;
      out.push(
        `| ${r.lib} | ${fmt(num(r, 'p50us'), 1)} | ${fmt(num(r, 'p90us'), 1)} | ${fmt(num(r, 'p99us'), 1)} | ${fmt(num(r, 'meanUs'), 1)} | ${(r.metrics.roundsP50us as number[]).join(', ')} | ${rel(r, bp)} | ${rel(r, by('poolifier'))} | ${rel(r, by('workerpool'))} | ${th(r)} |`,
      );
    }
  } else {
    out.push(
      `| lib | own inline µs/task | pool ms (rounds) | serial ms | speedup (best) | speedup (median) | speedup vs own inline | ${peerCols} |`,
    );
    out.push('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of rs) {
      if (!r.metrics) continue;
      out.push(
        `| ${r.lib} | ${fmt(num(r, 'taskUs'), 1)} | ${(r.metrics.wallMs as number[]).map((x) => fmt(x)).join(', ')} | ${fmt(num(r, 'serialMs'))} | ${fmt(num(r, 'speedup'), 2)}x | ${fmt(num(r, 'speedupMedian'), 2)}x | ${fmt(num(r, 'speedupOwn'), 2)}x | ${rel(r, bp)} | ${rel(r, by('poolifier'))} | ${rel(r, by('workerpool'))} | ${th(r)} |`,
      );
    }
  }
  return [...out, ...errors];
}

/** One line per target of the issue: met or missed, with the numbers. */
function targets(scenario: Scenario, rs: Result[]): string[] {
  const by = (lib: string) => rs.find((r) => r.lib === lib);
  const line = (ok: boolean | undefined, text: string) =>
    `- ${ok === undefined ? 'n/a' : ok ? 'MET' : 'MISSED'}: ${text}`;
  const out: string[] = [];
  const skein = by('skein');
  switch (scenario) {
    case 'trivial': {
      const s = num(skein, 'best');
      const p = num(by('poolifier'), 'best');
      out.push(
        line(
          s && p ? s >= 5 * p : undefined,
          `skein ≥ 5x poolifier: ${ratio(s, p)} (${fmt(s)} vs ${fmt(p)} tasks/s)`,
        ),
      );
      out.push(
        line(
          s ? s >= 1e6 : undefined,
          `aim 1M tasks/s: skein ${fmt(s)}, skein-batch ${fmt(num(by('skein-batch'), 'best'))}`,
        ),
      );
      break;
    }
    case 'latency': {
      const s = num(skein, 'p50us');
      const w = num(by('workerpool'), 'p50us');
      out.push(
        line(
          s && w ? s <= 0.6 * w : undefined,
          `skein p50 ≤ 0.6x workerpool: ${ratio(s, w)} (${fmt(s, 1)} vs ${fmt(w, 1)} µs)`,
        ),
      );
      const ns = num(by('skein-nospin'), 'p50us');
      if (ns !== undefined)
        out.push(`- skein-nospin (spinMicros 0) p50: ${fmt(ns, 1)} µs = ${ratio(ns, w)} workerpool`);
      const sp = num(by('skein-spin'), 'p50us');
      if (sp !== undefined)
        out.push(`- skein-spin (spinMicros 50) p50: ${fmt(sp, 1)} µs = ${ratio(sp, w)} workerpool`);
      break;
    }
    case 'cpu10ms': {
      const bp = bestPeer(rs, 'speedup', true);
      const s = num(skein, 'speedup');
      const b = num(bp, 'speedup');
      out.push(
        line(
          s && b ? s >= 0.99 * b : undefined,
          `skein speedup ≥ 0.99x best peer (${bp?.lib}): ${ratio(s, b)} (${fmt(s, 2)}x vs ${fmt(b, 2)}x)`,
        ),
      );
      break;
    }
    case 'cpu20us': {
      const s = num(skein, 'speedup');
      const p = num(by('poolifier'), 'speedup');
      out.push(
        line(
          s && p ? s >= 1.5 * p : undefined,
          `skein speedup ≥ 1.5x poolifier's: ${ratio(s, p)} (${fmt(s, 2)}x vs ${fmt(p, 2)}x)`,
        ),
      );
      break;
    }
    case 'memory': {
      const f = num(by('floor'), 'peakRssMiB');
      for (const lib of ['skein', 'skein-batch'] as const) {
        const r = by(lib);
        const s = num(r, 'peakRssMiB');
        out.push(
          line(
            s && f ? s <= 1.3 * f : undefined,
            `${lib} peak RSS ≤ 1.3x floor: ${ratio(s, f)} (${fmt(s)} vs ${fmt(f)} MiB)`,
          ),
        );
        const heap = r?.metrics?.heapAfterGcMiB as number[] | undefined;
        if (heap && heap.length > 1) {
          const growth = heap[heap.length - 1] - heap[0];
          out.push(
            line(
              growth <= Math.max(1, heap[0] * 0.05),
              `${lib} no heap growth over ${heap.length} rounds: ${fmt(heap[0], 1)} → ${fmt(heap[heap.length - 1], 1)} MiB after GC`,
            ),
          );
        }
      }
      break;
    }
  }
  return out;
}

/** One result per (threads, scenario, lib): its best run by the scenario's metric. */
function bestRuns(runs: Result[]): Result[] {
  const out: Result[] = [];
  for (const r of runs) {
    const i = out.findIndex((o) => o.threads === r.threads && o.scenario === r.scenario && o.lib === r.lib);
    if (i < 0) {
      out.push(r);
      continue;
    }
    // CPU runs are ranked by wall time (the work is identical), not by a speedup that depends on
    // each child's own, noisy, inline timing.
    const [key, higher] =
      r.scenario === 'memory'
        ? ['peakRssMiB', false]
        : r.scenario === 'cpu10ms' || r.scenario === 'cpu20us'
          ? ['bestMs', false]
          : KEY[r.scenario];
    const a = num(out[i], key);
    const b = num(r, key);
    if (b !== undefined && (a === undefined || (higher ? b > a : b < a))) out[i] = r;
  }
  return out;
}

/**
 * Rebases the CPU scenarios' speedups on one serial time: the fastest inline time per task that
 * any child of the scenario measured (every child runs the same work, so the fastest is the least
 * disturbed by other load on the machine). A child's own inline timing stays as `speedupOwn`.
 */
function commonBaseline(results: Result[]): void {
  for (const scenario of ['cpu10ms', 'cpu20us'] as const) {
    const rs = results.filter((r) => r.scenario === scenario && r.metrics);
    const perTask = Math.min(...rs.map((r) => (num(r, 'inlineMs') as number) / (num(r, 'n') as number)));
    for (const r of rs) {
      const m = r.metrics as Metrics;
      const serial = perTask * (m.n as number);
      const walls = [...(m.wallMs as number[])].sort((a, b) => a - b);
      const mid =
        walls.length % 2
          ? walls[walls.length >> 1]
          : (walls[walls.length / 2 - 1] + walls[walls.length / 2]) / 2;
      m.speedupOwn = m.speedup;
      m.serialMs = Math.round(serial * 10) / 10;
      m.speedup = Math.round((serial / (m.bestMs as number)) * 100) / 100;
      m.speedupMedian = Math.round((serial / mid) * 100) / 100;
    }
  }
}

// ------------------------------------------------------------------------------------------ parent

/**
 * Copies the built package (dist/src, dist/workers, dist/bench) to a private folder under bench/out
 * and returns the copy of this script there. Children run from the copy, so a rebuild of dist/ while
 * the bench runs (a shared checkout, a watcher) cannot hand a child half-written modules. Bare
 * imports (piscina, ...) still resolve: node_modules is found by walking up from the copy.
 */
function snapshotDist(script: string): { script: string; dir: string } {
  const dist = path.resolve(path.dirname(script), '..');
  const dir = path.resolve('bench/out', `pool-dist-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  for (const sub of ['src', 'workers', 'bench'])
    cpSync(path.join(dist, sub), path.join(dir, sub), { recursive: true });
  return { script: path.join(dir, 'bench', path.basename(script)), dir };
}

async function parent(argv: string[]): Promise<void> {
  const saved = argValue(argv, '--report');
  if (saved) {
    const { header, runs } = JSON.parse(readFileSync(saved, 'utf8')) as { header: string[]; runs: Result[] };
    console.log(report(header, runs));
    return;
  }
  const snap = argv.includes('--no-snapshot') ? undefined : snapshotDist(fileURLToPath(import.meta.url));
  const script = snap?.script ?? fileURLToPath(import.meta.url);
  try {
    await runPlan(argv, script);
  } finally {
    if (snap) rmSync(snap.dir, { recursive: true, force: true });
  }
}

async function runPlan(argv: string[], script: string): Promise<void> {
  const quick = argv.includes('--quick');
  const threadsList = (argValue(argv, '--threads') ?? String(os.availableParallelism()))
    .split(',')
    .map(Number);
  if (threadsList.some((t) => !Number.isInteger(t) || t < 1))
    throw new Error('--threads wants positive integers, e.g. 2,4,8');
  const scenarios = list(argValue(argv, '--scenarios'), SCENARIOS, 'scenario') ?? [...SCENARIOS];
  const libs = list(argValue(argv, '--libs'), ALL_LIBS, 'lib');
  const timeoutS = Number(argValue(argv, '--timeout') ?? 300);
  const iters20 = Number(argValue(argv, '--iters20') ?? calibrate(20));
  const iters10ms = Number(argValue(argv, '--iters10ms') ?? calibrate(10_000));
  const memRounds = argValue(argv, '--mem-rounds');
  const cpuProf = argv.includes('--cpu-prof');
  const extra = ['--iters20', String(iters20), '--iters10ms', String(iters10ms)];
  if (quick) extra.push('--quick');
  if (memRounds) extra.push('--mem-rounds', memRounds);

  // With --repeat, the whole plan runs again after itself (interleaved, so a burst of load from
  // elsewhere on the machine hits every library alike) and each library keeps its best run.
  const repeat = Number(argValue(argv, '--repeat') ?? 1);
  const plan: [number, Scenario, LibName][] = [];
  for (let rep = 0; rep < repeat; rep++) {
    for (const t of threadsList) {
      for (const s of scenarios) {
        let ls: LibName[] = libs ? libs.filter((l) => l !== 'floor' || s === 'memory') : DEFAULT_LIBS[s];
        if (s === 'memory' && !ls.includes('floor')) ls = ['floor', ...ls];
        for (const l of ls) plan.push([t, s, l]);
      }
    }
  }

  const header = [
    `node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}), availableParallelism ${os.availableParallelism()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${new Date().toISOString()}`,
    `command: node dist/bench/pool.js ${argv.join(' ')}`.trim(),
    `tasks: echo (returns its input); hash ${iters20} rounds (~20 µs here), hash ${iters10ms} rounds (~10 ms here); load average at start ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  ];
  console.error(header.join('\n'));
  const runs: Result[] = [];
  let k = 0;
  for (const [t, s, l] of plan) {
    k++;
    const flags: string[] = [];
    if (cpuProf && l.startsWith('skein')) {
      const dir = path.resolve('bench/out/profiles', `${s}-${l}-${t}`);
      mkdirSync(dir, { recursive: true });
      flags.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
    }
    const r = await runOne(script, l, s, t, extra, flags, timeoutS);
    runs.push(r);
    const summary = r.error ?? JSON.stringify(r.metrics).slice(0, 160);
    console.error(`[${k}/${plan.length}] ${s} ${l} threads=${t} (${r.seconds} s): ${summary}`);
  }

  if (repeat > 1) header.push(`each figure: the best of ${repeat} interleaved runs of its child`);
  console.log(report(header, runs));
  const json = argValue(argv, '--json');
  if (json) {
    mkdirSync(path.dirname(path.resolve(json)), { recursive: true });
    writeFileSync(json, JSON.stringify({ header, iters20, iters10ms, runs }, null, 2));
  }
}

/** The markdown tables and target lines of a set of runs (best run of each child, one baseline). */
function report(header: string[], runs: Result[]): string {
  const results = bestRuns(runs);
  commonBaseline(results);
  const md: string[] = [...header.map((h) => `${h}  `), ''];
  for (const t of [...new Set(results.map((r) => r.threads))]) {
    for (const s of SCENARIOS) {
      const rs = results.filter((r) => r.threads === t && r.scenario === s);
      if (rs.length === 0) continue;
      md.push(`#### ${s}, ${t} threads`, '', ...table(s, rs), '', ...targets(s, rs), '');
    }
  }
  return md.join('\n');
}

const argv = process.argv.slice(2);
if (argv.includes('--child')) await child(argv);
else await parent(argv);
