/**
 * The floor under any pool's sequential latency: a bare round trip between the main thread and
 * one worker, with no pool at all, by each wake-up mechanism. It shows what a thread wake-up costs
 * on this machine, which is what the `latency` scenario of `bench/pool.ts` mostly measures.
 *
 * - `postMessage`: ping-pong over the worker's port (what piscina, tinypool, workerpool do).
 * - `atomics`: the worker sleeps in `Atomics.wait`, the main thread in `Atomics.waitAsync`.
 * - `atomics+spin`: as `atomics`, but the worker spins 50 µs before it sleeps and the main thread
 *   spins up to 20 µs before it awaits (what skein's `spinMicros: 'auto'` does when it pays off).
 *
 * Run it plain and pinned to one CPU to see the cost of waking an idle (v)CPU:
 *
 * ```sh
 * npm run build && node dist/bench/wake.js
 * taskset -c 0 node dist/bench/wake.js   # every thread on one CPU: wake-ups are context switches
 * ```
 */
import { Worker } from 'node:worker_threads';

const N = 5000;
const WARMUP = 1000;
type Mode = 'postMessage' | 'atomics' | 'atomics+spin';

// Slot 0: the request sequence (main -> worker), slot 1: the response sequence (worker -> main).
// Each side stores its sequence, then notifies; each re-reads the other's slot before it sleeps.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const seq = new Int32Array(workerData.sab);
if (workerData.mode === 'postMessage') parentPort.on('message', (m) => parentPort.postMessage(m));
else {
  const spinMs = workerData.mode === 'atomics+spin' ? 0.05 : 0;
  let seen = 0;
  for (;;) {
    let v = Atomics.load(seq, 0);
    const end = performance.now() + spinMs;
    while (v === seen && performance.now() < end) v = Atomics.load(seq, 0);
    if (v === seen) { Atomics.wait(seq, 0, seen); v = Atomics.load(seq, 0); }
    if (v < 0) break;
    seen = v;
    Atomics.store(seq, 1, v);
    Atomics.notify(seq, 1);
  }
}`;

async function measure(mode: Mode): Promise<{ p50: number; p90: number }> {
  const sab = new SharedArrayBuffer(8);
  const seq = new Int32Array(sab);
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { sab, mode } });
  let answer: ((v: unknown) => void) | undefined;
  worker.on('message', (m) => answer?.(m));
  const spinMs = mode === 'atomics+spin' ? 0.02 : 0;
  const roundTrip = async (i: number): Promise<void> => {
    if (mode === 'postMessage') {
      await new Promise((r) => {
        answer = r;
        worker.postMessage(i);
      });
      return;
    }
    Atomics.store(seq, 0, i);
    Atomics.notify(seq, 0);
    const end = performance.now() + spinMs;
    while (Atomics.load(seq, 1) !== i && performance.now() < end);
    for (let v = Atomics.load(seq, 1); v !== i; v = Atomics.load(seq, 1)) {
      const w = Atomics.waitAsync(seq, 1, v);
      if (w.async) await w.value;
    }
  };
  const lat = new Float64Array(N);
  for (let i = 1; i <= WARMUP + N; i++) {
    const t0 = performance.now();
    await roundTrip(i);
    if (i > WARMUP) lat[i - WARMUP - 1] = performance.now() - t0;
  }
  if (mode === 'postMessage') await worker.terminate();
  else {
    Atomics.store(seq, 0, -1);
    Atomics.notify(seq, 0);
  }
  lat.sort();
  return { p50: lat[N >> 1] * 1000, p90: lat[Math.floor(N * 0.9)] * 1000 };
}

console.log(`node ${process.version}; ${N} round trips each after ${WARMUP} untimed`);
console.log('| mechanism | p50 µs | p90 µs |\n|---|---:|---:|');
for (const mode of ['postMessage', 'atomics', 'atomics+spin'] as const) {
  const r = await measure(mode);
  console.log(`| ${mode} | ${r.p50.toFixed(1)} | ${r.p90.toFixed(1)} |`);
}
