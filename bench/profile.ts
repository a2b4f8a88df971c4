/**
 * `npm run profile -- <scenario> [lib] [threads]`: runs one pool-bench child (bench/pool.ts
 * `--child`) under 0x and prints where its flame graph is (bench/out/flame-<scenario>-<lib>/).
 *
 * ```sh
 * npm run profile -- cpu20us              # skein, all cores
 * npm run profile -- trivial piscina 2
 * ```
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { calibrate, SCENARIOS } from './pool-scenarios.js';

const [scenario, lib = 'skein', threads = String(os.availableParallelism())] = process.argv.slice(2);
if (!scenario || !(SCENARIOS as readonly string[]).includes(scenario)) {
  console.error(`usage: npm run profile -- <scenario> [lib] [threads]   (scenarios: ${SCENARIOS.join(', ')})`);
  process.exit(2);
}
const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'node_modules/.bin/0x');
if (!existsSync(bin)) {
  console.error('0x is a devDependency: run `npm install` first');
  process.exit(2);
}
const dir = join(root, 'bench/out', `flame-${scenario}-${lib}`);
const args = [
  '--output-dir', dir,
  '--', process.execPath, '--expose-gc', join(root, 'dist/bench/pool.js'),
  '--child', lib, scenario, threads,
  '--iters20', String(calibrate(20)), '--iters10ms', String(calibrate(10_000)), '--quick',
];
const code = await new Promise<number>((resolve) => {
  const p = spawn(bin, args, { stdio: 'inherit' });
  p.on('close', (c) => resolve(c ?? 1));
});
const html = existsSync(dir) ? readdirSync(dir).find((f) => f.endsWith('.html')) : undefined;
if (code !== 0 || !html) {
  console.error(`profile failed (0x exited ${code})`);
  process.exit(1);
}
console.log(`flame graph: ${join(dir, html)}`);
