#!/usr/bin/env node
/**
 * `npm start`: renders the Mandelbrot set once on the main thread and once on every core through a
 * skein pool, checks both agree, and prints the speed-up and a small preview.
 */
import os from 'node:os';
import { WorkerPool } from '../pool/index.js';

const width = 1200;
const height = 800;
const maxIter = 2000;
const filename = new URL('../../workers/mandelbrot.js', import.meta.url);

const { default: row } = (await import(filename.href)) as { default: (j: object) => Uint16Array };
const jobs = Array.from({ length: height }, (_, y) => ({ y, width, height, maxIter }));

const cores = os.availableParallelism();
console.log(`skein demo: Mandelbrot ${width}x${height}, ${maxIter} iterations, ${cores} cores`);

let t = performance.now();
const serial = jobs.map((j) => row(j));
const serialMs = performance.now() - t;
console.log(`  one thread:        ${serialMs.toFixed(0)} ms`);

const pool = new WorkerPool({ filename });
await pool.submitBatch(jobs.slice(0, cores)); // start-up is not the point
t = performance.now();
const parallel = await pool.submitBatch<Uint16Array>(jobs);
const poolMs = performance.now() - t;
const workers = pool.getWorkerCount();
await pool.close();
console.log(`  skein, ${workers} workers:  ${poolMs.toFixed(0)} ms  (${(serialMs / poolMs).toFixed(2)}x)`);

const same = parallel.every((r, y) => r.every((v, x) => v === serial[y][x]));
if (!same) {
  console.error('  results differ between the main thread and the pool');
  process.exitCode = 1;
}

const shades = ' .:-=+*#%@';
for (let y = 0; y < height; y += 40) {
  let line = '  ';
  for (let x = 0; x < width; x += 15) line += shades[Math.min(9, Math.floor(Math.log2(parallel[y][x] + 1)))];
  console.log(line);
}
