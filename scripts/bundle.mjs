// Bundles the runtime that `tsc` wrote to dist/src into a few files (run by `npm run build`, after tsc).
//
// Why: skein is ~160 ES modules. Node loads each one on its own (resolve, read, compile, link), in
// the main thread and again in every pool worker, which preloads most of them (worker-preload.js):
// ~110 ms of CPU and ~10 MiB of RSS per thread. Bundled, the same code loads in ~25 ms and ~1 MiB. On a 2-core
// machine a pool's start-up competes with its first tasks, so this shows in every short run.
//
// How: esbuild bundles the entry points below from tsc's JavaScript (so the semantics are tsc's,
// and source maps chain back to src/*.ts) with code splitting: code that several entries use goes
// into shared chunks (dist/src/chunks/), so `skein`, `skein/internal`, the pool worker and the CLI
// all share one copy of every class (instanceof and the registries keep working across them).
// Entries keep their paths, so package.json `exports` and `bin` are unchanged. The unbundled
// modules are then deleted (their .d.ts files stay): nothing can load a second copy by a deep path.
//
// One fix-up: esbuild moves code into chunks in other folders, but does not rebase
// `new URL('./x.js', import.meta.url)`. Each bundled file marks the module every piece of code came
// from (`// dist/src/...js` lines), so each such URL is rebased from that module's folder to the
// file it landed in. The build fails if a URL points at a file that is not there.
import { build } from 'esbuild';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'dist/src');
const ENTRIES = [
  'index.js',
  'internal.js',
  'worker-preload.js',
  'pool/worker/worker-main.js',
  'cli/main.js',
  'cli/demo.js',
  'cli/run-worker.js',
];

const result = await build({
  absWorkingDir: ROOT,
  entryPoints: ENTRIES.map((e) => join('dist/src', e)),
  outdir: 'dist/src',
  outbase: 'dist/src',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  allowOverwrite: true,
  metafile: true,
  logLevel: 'warning',
  // Scope hoisting renames classes (`var Foo = class _Foo` for a class that names itself, `Foo2` on
  // a collision), and error classes are known by their names (err.name, the error codec).
  keepNames: true,
});

const outputs = new Set(Object.keys(result.metafile.outputs).map((o) => resolve(ROOT, o)));

// Rebase relative `new URL(..., import.meta.url)` from the module the code came from.
const MARK = /^\/\/ (dist\/src\/\S+\.js)$/;
const URL_RE = /new URL\((["'])(\.\.?\/[^"'$]*)\1, import\.meta\.url\)/g;
let rebased = 0;
for (const out of outputs) {
  if (!out.endsWith('.js')) continue;
  const outDir = dirname(out);
  let from = out; // code before the first mark is the entry's own
  const lines = readFileSync(out, 'utf8').split('\n');
  let changed = false;
  for (let i = 0; i < lines.length; i++) {
    const m = MARK.exec(lines[i]);
    if (m) {
      from = join(ROOT, m[1]);
      continue;
    }
    lines[i] = lines[i].replace(URL_RE, (all, q, rel) => {
      const target = resolve(dirname(from), rel);
      // A module under dist/src survives only as an entry (the prune below deletes the rest).
      const gone = target.startsWith(SRC + sep) && target.endsWith('.js') && !outputs.has(target);
      if (!existsSync(target) || gone) throw new Error(`${relative(ROOT, from)}: new URL('${rel}') points at ${relative(ROOT, target)}, which is not there or not an entry point`);
      let moved = relative(outDir, target).split(sep).join('/');
      if (!moved.startsWith('.')) moved = `./${moved}`;
      if (rel.endsWith('/') && !moved.endsWith('/')) moved += '/';
      if (moved === rel) return all;
      changed = true;
      rebased++;
      return `new URL(${q}${moved}${q}, import.meta.url)`;
    });
  }
  if (changed) writeFileSync(out, lines.join('\n'));
}

// Delete the unbundled modules (and their maps); declarations stay for the types.
function prune(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) prune(p);
    else if ((p.endsWith('.js') || p.endsWith('.js.map')) && !outputs.has(p.replace(/\.map$/, ''))) rmSync(p);
  }
}
prune(SRC);

const chunks = [...outputs].filter((o) => o.endsWith('.js') && !ENTRIES.some((e) => o === join(SRC, e)));
console.log(`bundled ${ENTRIES.length} entries and ${chunks.length} chunks into dist/src (${rebased} URLs rebased)`);
