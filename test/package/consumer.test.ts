// The package as a user meets it: `npm pack`ed, unpacked into a scratch consumer project, then
// typechecked with skipLibCheck: false (ESM and CommonJS consumers) and run on this Node.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
};
let scratch = '';
let files: string[] = [];

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Links a package of the repo's node_modules into the consumer's. */
function link(name: string): void {
  const to = join(scratch, 'node_modules', name);
  mkdirSync(join(to, '..'), { recursive: true });
  if (!existsSync(to)) symlinkSync(join(repo, 'node_modules', name), to, 'dir');
}

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'skein-consumer-'));
  const out = run('npm', ['pack', '--json', '--pack-destination', scratch], repo);
  const [packed] = JSON.parse(out.slice(out.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  files = packed.files.map((f) => f.path);
  const dest = join(scratch, 'node_modules', 'skein');
  mkdirSync(dest, { recursive: true });
  run('tar', ['-xzf', join(scratch, packed.filename), '-C', dest, '--strip-components=1'], scratch);
  // The consumer's own dependencies come from this checkout (no registry needed).
  for (const dep of Object.keys(pkg.dependencies ?? {})) link(dep);
  link('typescript');
  link('@types/node');
  link('tsx');
  for (const dep of ['esbuild', '@esbuild']) link(dep); // tsx's own dependencies
  cpSync(join(repo, 'test/package/consumer'), scratch, { recursive: true });
}, 120_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('ships the library and its workers, no bench code, and source maps that carry their sources', () => {
    expect(files).toContain('dist/src/index.js');
    expect(files).toContain('dist/src/index.d.ts');
    expect(files).toContain('dist/src/internal.js');
    // The bench and its peer workers stay in the repository (`skein bench` runs from a checkout).
    expect(files.filter((f) => f.startsWith('dist/bench/') || f.startsWith('dist/workers/bench'))).toEqual([]);
    // Each shipped .js names its map (a bundler's source-map loader warns for a map that is not
    // there), and each map holds the TypeScript it maps to, which is not shipped; declaration maps
    // would point at that absent TypeScript, so they stay out.
    const maps = files.filter((f) => f.endsWith('.map'));
    expect(maps.filter((f) => f.endsWith('.d.ts.map'))).toEqual([]);
    for (const js of files.filter((f) => f.endsWith('.js'))) {
      const named = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(join(scratch, 'node_modules', 'skein', js), 'utf8'))?.[1];
      if (named) expect(maps).toContain(join(dirname(js), named));
    }
    for (const m of maps) {
      const map = JSON.parse(readFileSync(join(scratch, 'node_modules', 'skein', m), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
      expect(map.sourcesContent?.length, m).toBe(map.sources.length);
      expect(map.sourcesContent?.every((c) => typeof c === 'string' && c.length > 0), m).toBe(true);
    }
  });

  it('ships no module that imports a package a user does not get (dependencies, peers, node:)', () => {
    const pkgs = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})]);
    const foreign: string[] = [];
    for (const f of files.filter((p) => p.endsWith('.js'))) {
      const text = readFileSync(join(scratch, 'node_modules/skein', f), 'utf8');
      for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*)['"]([^'"./][^'"]*)['"]/g)) {
        const spec = m[1];
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
        if (!spec.startsWith('node:') && !pkgs.has(name)) foreign.push(`${f}: ${spec}`);
      }
    }
    expect(foreign).toEqual([]);
  });

  it('typechecks ESM and CommonJS consumers with skipLibCheck: false', () => {
    const tsc = join(scratch, 'node_modules/typescript/bin/tsc');
    let out = '';
    try {
      out = run(process.execPath, [tsc, '-p', 'tsconfig.json'], scratch);
    } catch (e) {
      out = String((e as { stdout?: string }).stdout ?? e);
    }
    expect(out).toBe('');
  }, 300_000); // checking every .d.ts (skipLibCheck: false), @types/node's too, takes ~35 s when idle

  it('runs a pool from an ESM consumer', () => {
    expect(run(process.execPath, ['esm.mjs'], scratch).trim()).toBe('esm ok 42 Semaphore');
  }, 60_000);

  it('runs a TypeScript task module under tsx (Node 20 included)', () => {
    const out = run(process.execPath, ['--import', 'tsx', 'tsx-main.mjs'], scratch);
    expect(out.trim()).toBe('tsx ok 21');
  }, 60_000);

  it('without tsx, a .ts task module loads where Node strips types, else names both routes', () => {
    const [major, minor] = process.versions.node.split('.').map(Number);
    const strips = major > 22 || (major === 22 && minor >= 18);
    const out = run(process.execPath, ['tsx-main.mjs'], scratch).trim();
    if (strips) expect(out).toBe('tsx ok 21');
    else {
      expect(out).toMatch(/^WorkerModuleError: /);
      expect(out).toContain('Node >= 22.18');
      expect(out).toContain('tsx');
    }
  }, 60_000);

  it('loads with require() from a CommonJS consumer', () => {
    expect(run(process.execPath, ['cjs.cjs'], scratch).trim()).toBe('cjs ok 3 function');
  }, 60_000);
});
