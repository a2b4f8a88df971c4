/**
 * Speed of `skein run` (issue 12): 20k JSONL records through three stages fused (parse; enrich:
 * 20 rounds of SHA-256 plus an integer hash chain, ~140 µs; pack: gzip), wall time including
 * start-up, each contender once, one after another, in this same run:
 *
 *  - one `node` process reading stdin (`bench/cli-single.ts`),
 *  - GNU parallel `--pipe -N 1000 -j <threads> --keep-order`, a `node` per block of lines
 *    (skipped when `parallel` is not installed: `apt-get install -y parallel`),
 *  - `skein run --fn parse,enrich,pack --stages-via pipeline` with `--workers <threads>` (the three
 *    `--fn` as a flow Pipeline's stages, fused in the workers), so the Pipeline's cost shows against
 *    the default path in the same run,
 *  - `skein run --fn parse,enrich,pack` with `--workers <threads>` (one pool task per batch runs the
 *    three in turn: the default).
 *
 * ```sh
 * npm run bench:cli                             # node dist/bench/cli.js
 * node dist/bench/cli.js --lines 20000 --threads 2 --rounds 1
 * ```
 * With `--rounds N` every contender runs N times, interleaved; the best wall time counts and the
 * spread (slowest / best) is printed beside it. The load average before and after is printed too.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { makeRecord } from '../workers/records.js';

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '20000' },
    threads: { type: 'string', default: String(os.availableParallelism()) },
    rounds: { type: 'string', default: '1' },
  },
});
const LINES = Number(values.lines);
const THREADS = Number(values.threads);
const ROUNDS = Number(values.rounds);
const root = fileURLToPath(new URL('../../', import.meta.url));
const records = join(root, 'dist/workers/records.js');
const single = join(root, 'dist/bench/cli-single.js');
const skein = join(root, 'dist/src/cli/main.js');
const dir = mkdtempSync(join(os.tmpdir(), 'skein-bench-cli-'));
const input = join(dir, 'in.jsonl');

let text = '';
for (let i = 0; i < LINES; i++) text += `${JSON.stringify(makeRecord(i))}\n`;
writeFileSync(input, text);

function hasParallel(): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn('parallel', ['--version'], { stdio: 'ignore' });
    p.on('error', () => resolve(false));
    p.on('close', (code) => resolve(code === 0));
  });
}

/** Runs `cmd` with stdin from the input file and stdout to `out`; resolves to wall ms. */
function timed(cmd: string, args: string[], out: string): Promise<number> {
  const inFd = openSync(input, 'r');
  const outFd = openSync(out, 'w');
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: [inFd, outFd, 'inherit'] });
    p.on('error', reject);
    p.on('close', (code) => {
      const ms = performance.now() - t0;
      closeSync(inFd);
      closeSync(outFd);
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`));
      else resolve(ms);
    });
  });
}

interface Contender {
  name: string;
  cmd: string;
  args: string[];
}
const contenders: Contender[] = [
  { name: 'one node process (stdin)', cmd: process.execPath, args: [single, records] },
];
if (await hasParallel()) {
  contenders.push({
    name: `GNU parallel --pipe -N 1000 -j ${THREADS} --keep-order`,
    cmd: 'parallel',
    args: ['--pipe', '-N', '1000', '-j', String(THREADS), '--keep-order', process.execPath, single, records],
  });
} else console.error('GNU parallel not found (apt-get install -y parallel): skipped');
const skeinArgs = [skein, 'run', records, '--fn', 'parse,enrich,pack', '--workers', String(THREADS), '--no-progress'];
contenders.push({ name: `skein run --workers ${THREADS} --stages-via pipeline`, cmd: process.execPath, args: [...skeinArgs, '--stages-via', 'pipeline'] });
contenders.push({ name: `skein run --workers ${THREADS}`, cmd: process.execPath, args: skeinArgs });

const load0 = os.loadavg()[0];
const best = new Map<string, number>();
const worst = new Map<string, number>();
for (let r = 0; r < ROUNDS; r++) {
  for (const c of contenders) {
    const out = join(dir, 'out.jsonl');
    const ms = await timed(c.cmd, c.args, out);
    const n = readFileSync(out, 'utf8').split('\n').filter((l) => l !== '').length;
    if (n !== LINES) throw new Error(`${c.name} wrote ${n} lines, expected ${LINES}`);
    best.set(c.name, Math.min(best.get(c.name) ?? Infinity, ms));
    worst.set(c.name, Math.max(worst.get(c.name) ?? 0, ms));
  }
}
rmSync(dir, { recursive: true, force: true });

const one = best.get(contenders[0].name)!;
const par = [...best.keys()].find((k) => k.startsWith('GNU'));
const sk = best.get(contenders[contenders.length - 1].name)!;
const cores = os.availableParallelism();
console.log(
  `\n${LINES} lines, ${THREADS} threads, Node ${process.versions.node}, ${cores} cores ${os.cpus()[0]?.model ?? ''}, ` +
    `${ROUNDS} round(s), load average ${load0.toFixed(1)} before, ${os.loadavg()[0].toFixed(1)} after\n`,
);
console.log('| contender | best wall s | spread | lines/s | skein run is |');
console.log('|---|---:|---:|---:|---:|');
for (const [name, ms] of best) {
  const ratio = name === contenders[contenders.length - 1].name ? '' : `${(ms / sk).toFixed(2)}x faster`;
  const spread = `${(worst.get(name)! / ms).toFixed(2)}x`;
  console.log(`| ${name} | ${(ms / 1000).toFixed(2)} | ${spread} | ${Math.round(LINES / (ms / 1000))} | ${ratio} |`);
}
console.log(
  `\ntargets: >= 1.6x one process (${(one / sk).toFixed(2)}x)` +
    (par ? `, >= 4x GNU parallel (${(best.get(par)! / sk).toFixed(2)}x)` : ''),
);
