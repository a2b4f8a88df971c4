/**
 * `skein bench [scenario...] [--vs piscina,...]`: runs the pool bench (bench/pool.ts, each library
 * and scenario in its own child process) with skein and the chosen peers, prints its tables, and
 * draws the figures as an SVG chart (bench/chart.ts: bars with min-max whiskers, ratios to skein).
 * A development command: it needs the repository's built bench (`npm run build`), which the
 * published package does not ship.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from './errors.js';

import { BENCH_PEERS, BENCH_SCENARIOS } from './bench-names.js';

export interface BenchConfig {
  scenarios: string[];
  vs: string[];
  threads: string | undefined;
  quick: boolean;
  out: string;
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export async function runBench(cfg: BenchConfig): Promise<number> {
  const script = join(ROOT, 'dist/bench/pool.js');
  const chart = join(ROOT, 'dist/bench/chart.js');
  if (!existsSync(script) || !existsSync(chart))
    throw new UsageError(`skein bench runs the repository's bench: ${script} not found (run \`npm run build\` in a checkout)`);
  for (const s of cfg.scenarios)
    if (!BENCH_SCENARIOS.includes(s)) throw new UsageError(`unknown scenario '${s}' (scenarios: ${BENCH_SCENARIOS.join(', ')})`);
  for (const p of cfg.vs) if (!BENCH_PEERS.includes(p)) throw new UsageError(`unknown peer '${p}' (peers: ${BENCH_PEERS.join(', ')})`);
  const out = resolve(cfg.out);
  mkdirSync(out, { recursive: true });
  const json = join(out, 'pool.json');
  const args = [script, '--json', json, '--libs', ['skein', ...cfg.vs].join(',')];
  if (cfg.scenarios.length > 0) args.push('--scenarios', cfg.scenarios.join(','));
  if (cfg.threads) args.push('--threads', cfg.threads);
  if (cfg.quick) args.push('--quick');
  const code = await new Promise<number>((res) => {
    const p = spawn(process.execPath, args, { stdio: 'inherit' });
    p.on('close', (c) => res(c ?? 1));
  });
  if (code !== 0) return code;
  const { barsFromPoolJson, renderBars } = (await import(chart)) as typeof import('../../bench/chart.js');
  const bars = barsFromPoolJson(JSON.parse(readFileSync(json, 'utf8')) as Parameters<typeof barsFromPoolJson>[0]);
  const svg = join(out, 'pool.svg');
  writeFileSync(svg, await renderBars(bars, 'tasks per second (median; whiskers: min-max; ratio to skein)', 'tasks/s'));
  process.stderr.write(`skein bench: chart written to ${svg}\n`);
  return 0;
}
