/**
 * What a cold `bench/pipeline.ts` run pays before its first item, each contender in its own process:
 *
 *  - raw: two `new Worker`s that import the stages module and answer once (what the fused floor pays);
 *  - skein: `import('skein')` on the main thread, then a `FixedWorkerPool` of two until both
 *    workers are ready (they load skein's worker runtime, its preload and the task module), then
 *    one task.
 *
 * Milliseconds from the start of the timed part, medians over the rounds.
 *
 * ```sh
 * node dist/bench/pipeline-startup.js --rounds 7
 * ```
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

const STAGES = new URL('../workers/pipeline-stages.js', import.meta.url);
const now = (): number => performance.timeOrigin + performance.now();

async function measure(mode: string): Promise<Record<string, number>> {
  const t0 = now();
  if (mode === 'raw') {
    const code = `import(${JSON.stringify(STAGES.href)}).then(() => require('node:worker_threads').parentPort.postMessage(performance.timeOrigin + performance.now()))`;
    const ready = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<number>((resolve) => {
            const w = new Worker(code, { eval: true });
            w.once('message', (t: number) => {
              resolve(t);
              void w.terminate();
            });
          }),
      ),
    );
    return { firstTaskMs: Math.max(...ready) - t0 };
  }
  const { FixedWorkerPool } = await import('../src/index.js');
  const imported = now();
  const pool = new FixedWorkerPool(2, { filename: STAGES });
  // Both workers have loaded the task module and joined the pool, looked at every millisecond (a
  // setImmediate loop would keep one of the two cores busy and slow the workers' start).
  while (pool.getHealthStatus().filter((h) => h.ready).length < 2) await new Promise((r) => setTimeout(r, 1));
  const ready = now();
  await pool.submit('{"id":1,"text":"a"}', { fn: 'parseLine' });
  const ran = now();
  await pool.close();
  return { importMs: imported - t0, poolBootMs: ready - imported, firstTaskMs: ran - t0 };
}

function child(mode: string): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url), '--mode', mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as Record<string, number>) : reject(new Error(`${mode} exited ${code}`))));
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const { values } = parseArgs({ options: { mode: { type: 'string' }, rounds: { type: 'string', default: '7' } } });
if (values.mode) {
  process.stdout.write(JSON.stringify(await measure(values.mode)));
} else {
  const runs: Record<string, Record<string, number>[]> = { raw: [], skein: [] };
  for (let i = 0; i < Number(values.rounds); i++) for (const m of ['raw', 'skein']) runs[m].push(await child(m));
  console.log(`pipeline start-up, Node ${process.versions.node}, medians of ${values.rounds} (ms from the start of the timed part)`);
  console.log('\n| | import skein | pool boot (both workers ready) | first task done (raw: both workers loaded the module) |\n|---|---:|---:|---:|');
  const m = (mode: string, k: string): string => (runs[mode][0][k] === undefined ? '' : median(runs[mode].map((r) => r[k])).toFixed(1));
  console.log(`| raw workers | | | ${m('raw', 'firstTaskMs')} |`);
  console.log(`| skein | ${m('skein', 'importMs')} | ${m('skein', 'poolBootMs')} | ${m('skein', 'firstTaskMs')} |`);
}
