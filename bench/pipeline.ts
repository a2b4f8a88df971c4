/**
 * A three-stage CPU pipeline (issue 11) over JSON lines: parse (~260-byte record), enrich (20 rounds
 * of SHA-256 plus an integer hash chain, ~140 µs), pack (gzip), each contender written as its users
 * would write it, each in its own process, one after another in this same run:
 *
 *  - one thread, no pool (the stages called in a loop),
 *  - two raw workers, all stages fused, one message per half of the input (the floor of any pipeline),
 *  - piscina + p-limit per stage (a limiter per stage, each item awaited through all three),
 *  - Node streams `Readable.map({ concurrency })` x3 + piscina,
 *  - skein `Pipeline`, three stages on one pool (they fuse into one task in the worker),
 *  - skein `Pipeline` with parse on one pool and enrich + pack on another (items cross the main
 *    thread between the pools, a batch at a time),
 *  - skein streaming: `processStream` over a generator of 5x the lines, sampling RSS (flat = the
 *    source is never held whole),
 *  - skein warm: the same lines twice through one `Pipeline` in one process; items/s of the second
 *    pass only (the steady state, without start-up and JIT warm-up; for reading, not a target),
 *  - skein young-12: as `skein`, with the pool's workers' young generation capped at 12 MiB
 *    (`resourceLimits: { maxYoungGenerationSizeMb: 12 }`; V8's default lets it grow to 48 MiB on
 *    Node 20, 192 on Node 24): what that knob does to peak RSS and speed (for reading, not a target).
 *
 * Items/s from before the pool (or the workers) is made to the last output (start-up timed for all,
 * teardown for none: the floor lets its workers go unawaited, so a pool's close() is not timed
 * either), peak RSS (maxRSS of the process), and CPU per item: every thread of the process (main,
 * workers, V8's compiler and GC threads) over that timed part.
 *
 * ```sh
 * npm run bench:pipeline                       # node dist/bench/pipeline.js
 * node dist/bench/pipeline.js --lines 20000 --threads 2 --rounds 1
 * ```
 */
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import os from 'node:os';
import { makeRecord } from '../workers/records.js';
import { all, allBatch } from '../workers/pipeline-stages.js';

const STAGES = new URL('../workers/pipeline-stages.js', import.meta.url);
const IMPLS = ['one-thread', 'fused-floor', 'piscina+p-limit', 'streams+piscina', 'skein', 'skein-two-pools', 'skein-stream', 'skein-warm', 'skein-young-12'];

function lines(n: number): string[] {
  return Array.from({ length: n }, (_, i) => JSON.stringify(makeRecord(i)));
}

const mib = (b: number): number => Math.round((b / 1048576) * 10) / 10;
const peakRss = (): number => mib(process.resourceUsage().maxRSS * 1024);

async function runImpl(impl: string, n: number, threads: number): Promise<Record<string, unknown>> {
  const input = impl === 'skein-stream' ? [] : lines(n);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let count = 0;
  const extra: Record<string, unknown> = {};
  // The clock stops at the last output, before any pool is closed: the floor's workers are let go
  // untimed (terminate, not awaited), so no row times its teardown (a pool's close() waits ~25 ms
  // for its threads to exit here, ~1.5% of a 20k-line run).
  let tEnd = 0;
  let cpu: NodeJS.CpuUsage | undefined;
  const stop = (): void => {
    tEnd = performance.now();
    cpu = process.cpuUsage(cpu0); // every thread of the process, over the timed run
  };
  if (impl === 'one-thread') {
    for (const l of input) {
      all(l);
      count++;
    }
  } else if (impl === 'fused-floor') {
    const per = Math.ceil(n / threads);
    const parts = await Promise.all(
      Array.from({ length: threads }, (_, k) => {
        const w = new Worker(new URL(import.meta.url), { workerData: { lines: input.slice(k * per, (k + 1) * per) } });
        return new Promise<unknown[]>((resolve, reject) => {
          w.once('message', (m: unknown[]) => {
            resolve(m);
            void w.terminate();
          });
          w.once('error', reject);
        });
      }),
    );
    count = parts.reduce((s, p) => s + p.length, 0);
    stop();
  } else if (impl === 'piscina+p-limit') {
    const { Piscina } = await import('piscina');
    const { default: pLimit } = await import('p-limit');
    const pool = new Piscina({ filename: fileURLToPath(STAGES), minThreads: threads, maxThreads: threads });
    const [l1, l2, l3] = [pLimit(threads * 2), pLimit(threads * 2), pLimit(threads * 2)];
    await Promise.all(
      input.map(async (line) => {
        const r = await l1(() => pool.run(line, { name: 'parseLine' }));
        const e = await l2(() => pool.run(r, { name: 'enrich' }));
        await l3(() => pool.run(e, { name: 'pack' }));
        count++;
      }),
    );
    stop();
    await pool.destroy();
  } else if (impl === 'streams+piscina') {
    const { Piscina } = await import('piscina');
    const pool = new Piscina({ filename: fileURLToPath(STAGES), minThreads: threads, maxThreads: threads });
    const concurrency = threads * 2;
    const s = Readable.from(input)
      .map((l: string) => pool.run(l, { name: 'parseLine' }), { concurrency })
      .map((r: unknown) => pool.run(r, { name: 'enrich' }), { concurrency })
      .map((e: unknown) => pool.run(e, { name: 'pack' }), { concurrency });
    for await (const _ of s) count++;
    stop();
    await pool.destroy();
  } else if (impl === 'skein-two-pools') {
    const { FixedWorkerPool, Pipeline } = await import('../src/index.js');
    const a = new FixedWorkerPool(threads, { filename: STAGES });
    const b = new FixedWorkerPool(threads, { filename: STAGES });
    const p = new Pipeline<string>()
      .stage('parse', { pool: a, fn: 'parseLine' })
      .stage('enrich', { pool: b, fn: 'enrich' })
      .stage('pack', { pool: b, fn: 'pack' });
    for await (const _ of p.processStream(input)) count++;
    stop();
    extra.fused = p.metrics().stages.map((s) => s.fused);
    await Promise.all([a.close(), b.close()]);
  } else if (impl === 'skein' || impl === 'skein-stream' || impl === 'skein-warm' || impl === 'skein-young-12') {
    const { FixedWorkerPool, Pipeline } = await import('../src/index.js');
    const young = impl === 'skein-young-12' ? { resourceLimits: { maxYoungGenerationSizeMb: 12 } } : {};
    const pool = new FixedWorkerPool(threads, { filename: STAGES, ...young });
    const p = new Pipeline<string>()
      .stage('parse', { pool, fn: 'parseLine' })
      .stage('enrich', { pool, fn: 'enrich' })
      .stage('pack', { pool, fn: 'pack' });
    if (impl === 'skein' || impl === 'skein-young-12') {
      for await (const _ of p.processStream(input)) count++;
    } else if (impl === 'skein-warm') {
      for await (const _ of p.processStream(input)) count++;
      extra.firstPassMs = Math.round(performance.now() - t0);
      const t1 = performance.now();
      count = 0;
      for await (const _ of p.processStream(input)) count++;
      extra.warmItemsPerSec = Math.round(count / ((performance.now() - t1) / 1000));
      extra.itemsPerSec = extra.warmItemsPerSec; // its row shows the second pass
    } else {
      const samples: number[] = [];
      const source = function* (): Generator<string> {
        for (let i = 0; i < n; i++) yield JSON.stringify(makeRecord(i));
      };
      for await (const _ of p.processStream(source())) {
        if (++count % Math.floor(n / 10) === 0) samples.push(mib(process.memoryUsage.rss()));
      }
      extra.rssSamplesMiB = samples;
    }
    stop();
    extra.fused = p.metrics().stages.every((s) => s.fused);
    await pool.close();
  }
  if (tEnd === 0) stop(); // one-thread: nothing to close
  const secs = (tEnd - t0) / 1000;
  if (count !== n) throw new Error(`${impl}: ${count} outputs for ${n} inputs`);
  const cpuUsPerItem = Math.round(((cpu as NodeJS.CpuUsage).user + (cpu as NodeJS.CpuUsage).system) / count);
  return { impl, items: count, itemsPerSec: Math.round(count / secs), peakRssMiB: peakRss(), cpuUsPerItem, ...extra };
}

function child(impl: string, n: number, threads: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const args = [fileURLToPath(import.meta.url), '--impl', impl, '--lines', String(n), '--threads', String(threads)];
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as Record<string, unknown>) : reject(new Error(`${impl} exited ${code}`))));
  });
}

if (!isMainThread) {
  parentPort?.postMessage(allBatch((workerData as { lines: string[] }).lines));
} else {
  const { values } = parseArgs({
    options: {
      impl: { type: 'string' },
      lines: { type: 'string', default: '20000' },
      threads: { type: 'string', default: String(Math.min(2, os.availableParallelism())) },
      rounds: { type: 'string', default: '1' },
    },
  });
  const n = Number(values.lines);
  const threads = Number(values.threads);
  if (values.impl) {
    const r = await runImpl(values.impl, values.impl === 'skein-stream' ? n * 5 : n, threads);
    process.stdout.write(JSON.stringify(r));
  } else {
    // Items/s: each row's best round (the host's load only ever slows a run). Peak RSS: each row's
    // median over the rounds (it varies from run to run, and the fastest run's is no better a figure).
    const best = new Map<string, Record<string, unknown>>();
    const rss = new Map<string, number[]>();
    for (let round = 0; round < Number(values.rounds); round++) {
      for (const impl of IMPLS) {
        const r = await child(impl, n, threads);
        const prev = best.get(impl);
        if (!prev || (r.itemsPerSec as number) > (prev.itemsPerSec as number)) best.set(impl, r);
        rss.set(impl, [...(rss.get(impl) ?? []), r.peakRssMiB as number]);
      }
    }
    for (const [impl, rs] of rss) {
      const sorted = [...rs].sort((a, b) => a - b);
      const mid = sorted.length >> 1;
      const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
      (best.get(impl) as Record<string, unknown>).peakRssMiB = Math.round(median * 10) / 10;
    }
    const get = (k: string): Record<string, unknown> => best.get(k) as Record<string, unknown>;
    const ips = (k: string): number => get(k).itemsPerSec as number;
    const peer = Math.max(ips('piscina+p-limit'), ips('streams+piscina'));
    const peerRss = Math.min(get('piscina+p-limit').peakRssMiB as number, get('streams+piscina').peakRssMiB as number);
    console.log(`pipeline bench: ${n} lines, ${threads} threads, Node ${process.versions.node}, ${os.cpus()[0]?.model ?? ''} (${os.availableParallelism()} cores), items/s best of ${values.rounds} rounds, peak RSS their median`);
    console.log('\n| implementation | items/s | peak RSS MiB | CPU µs/item | vs best peer | vs fused floor |\n|---|---:|---:|---:|---:|---:|');
    for (const impl of IMPLS) {
      const r = get(impl);
      console.log(`| ${impl} | ${r.itemsPerSec} | ${r.peakRssMiB} | ${r.cpuUsPerItem} | ${(ips(impl) / peer).toFixed(2)}x | ${(ips(impl) / ips('fused-floor')).toFixed(2)}x |`);
    }
    const s = get('skein');
    console.log(`\nskein: ${(ips('skein') / peer).toFixed(2)}x the best peer (target >= 2), ${(ips('skein') / ips('fused-floor')).toFixed(3)}x the fused floor (target >= 0.85), peak RSS ${s.peakRssMiB} MiB vs the peers' lowest ${peerRss} (target <=); stages fused: ${String(s.fused)}`);
    console.log(`skein-stream (${n * 5} lines from a generator): RSS MiB at each tenth: ${(get('skein-stream').rssSamplesMiB as number[]).join(', ')}`);
    const warm = get('skein-warm').warmItemsPerSec as number;
    console.log(`skein-warm: a second pass of the same ${n} lines through one Pipeline: ${warm} items/s, ${(warm / ips('fused-floor')).toFixed(2)}x the fused floor (first pass ${String(get('skein-warm').firstPassMs)} ms)`);
  }
}
