/**
 * Summarizes V8 CPU profiles (`.cpuprofile`, as written by `node --cpu-prof`, e.g. through
 * `node dist/bench/pool.js --cpu-prof`): self time per function, heaviest first, plus the share of
 * idle, GC and "(program)" (native code outside JS: the event loop, syscalls, Atomics waits).
 * One profile per thread: the main thread's is the one whose top functions are the pool's.
 *
 * ```sh
 * node dist/bench/pool-profile.js bench/out/profiles/cpu20us-skein-2/*.cpuprofile [--top 25]
 * ```
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function label(n: ProfileNode): string {
  const f = n.callFrame;
  const file = f.url ? `${path.basename(f.url.replace(/^file:\/\//, ''))}:${f.lineNumber + 1}` : '';
  return `${f.functionName || '(anonymous)'}${file ? ` ${file}` : ''}`;
}

function summarize(file: string, top: number): void {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i]);
    const dt = p.timeDeltas[i] ?? 0;
    if (!n) continue;
    total += dt;
    const k = label(n);
    self.set(k, (self.get(k) ?? 0) + dt);
  }
  const ms = (us: number) => (us / 1000).toFixed(1);
  const share = (us: number) => `${((100 * us) / Math.max(1, total)).toFixed(1)}%`;
  const idle = self.get('(idle)') ?? 0;
  const gc = self.get('(garbage collector)') ?? 0;
  const prog = self.get('(program)') ?? 0;
  console.log(`\n== ${file}`);
  console.log(
    `sampled ${ms(total)} ms: idle ${share(idle)}, program ${share(prog)}, GC ${share(gc)}, JS ${share(total - idle - gc - prog)}`,
  );
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [k, us] of rows) console.log(`${ms(us).padStart(9)} ms ${share(us).padStart(6)}  ${k}`);
}

const args = process.argv.slice(2);
const ti = args.indexOf('--top');
const top = ti >= 0 ? Number(args[ti + 1]) : 25;
const files = args.filter((a, i) => a.endsWith('.cpuprofile') && i !== ti + 1);
if (files.length === 0) {
  console.error('usage: node dist/bench/pool-profile.js <file.cpuprofile>... [--top N]');
  process.exit(2);
}
for (const f of files) summarize(f, top);
