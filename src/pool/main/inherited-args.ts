/**
 * What a worker inherits of the main thread's start: its execArgv, and NODE_OPTIONS in its env.
 *
 * Node resolves a preload that is named relatively or bare (`--import tsx`, `-r ./setup.cjs`,
 * `NODE_OPTIONS=--import=tsx`) against the current directory when each worker starts, not when the
 * process did. A program that calls `process.chdir` before a pool starts a worker then lost its
 * workers ("Cannot find package 'tsx' imported from /elsewhere/"). So a preload that no longer
 * resolves from the current directory but did from the one this module was loaded in is named by
 * where it resolved there. Nothing changes while every preload still resolves (the directory did
 * not move, or moved within the project), and a pool's own `execArgv` or `env` is passed as given.
 *
 * A worker given an execArgv or a changed NODE_OPTIONS refuses the flags that act on the whole
 * process (`--expose-gc`, `--title`, `--openssl-legacy-provider`); those already act on it, so
 * {@link startWorker} leaves out the ones Node names and tries again.
 */
import { existsSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { currentDir, nodeOptionTokens, START_DIR } from '../shared/index.js';

/** Flags whose value names a module to preload: ESM ones take a URL, CommonJS ones a path. */
const ESM_FLAGS = new Set(['--import', '--loader', '--experimental-loader']);
const CJS_FLAGS = new Set(['--require', '-r']);

/** Where `spec` resolves from directory `dir` as a CommonJS-style lookup, or undefined. */
function lookup(spec: string, dir: string): string | undefined {
  try {
    return createRequire(join(dir, 'noop.js')).resolve(spec);
  } catch {
    return undefined;
  }
}

/**
 * `spec` named so that it resolves as it did at start, from directory `cwd`; undefined when it
 * still resolves from there (left to Node, as before), or when it did not resolve at start either.
 */
function pinned(flag: string, spec: string, cwd: string): string | undefined {
  if (START_DIR === undefined || isAbsolute(spec) || isBuiltin(spec) || /^[a-z][a-z\d+.-]*:/i.test(spec)) return undefined;
  const esm = ESM_FLAGS.has(flag);
  if (esm && /^\.\.?([/\\]|$)/.test(spec)) {
    const file = resolvePath(START_DIR, spec); // ESM adds no extension
    return existsSync(resolvePath(cwd, spec)) || !existsSync(file) ? undefined : pathToFileURL(file).href;
  }
  // A bare name, or a CommonJS relative one. Dual packages: this lookup takes the `require` entry of
  // their exports where Node's --import takes the `import` one; only a preload that would fail is pinned.
  if (lookup(spec, cwd) !== undefined) return undefined;
  const file = lookup(spec, START_DIR);
  if (file === undefined) return undefined;
  return esm ? pathToFileURL(file).href : file;
}

/** `args` with each preload that needs it pinned; undefined when none does. */
function pinArgs(args: readonly string[], cwd: string): string[] | undefined {
  const out = [...args];
  let changed = false;
  for (let i = 0; i < out.length; i++) {
    const a = out[i] as string;
    const eq = a.indexOf('=');
    const flag = eq < 0 ? a : a.slice(0, eq);
    if (!ESM_FLAGS.has(flag) && !CJS_FLAGS.has(flag)) continue;
    const at = eq < 0 ? i + 1 : i;
    const spec = eq < 0 ? out[i + 1] : a.slice(eq + 1);
    if (eq < 0) i++;
    if (spec === undefined || spec.startsWith('-')) continue;
    const p = pinned(flag, spec, cwd);
    if (p === undefined) continue;
    out[at] = eq < 0 ? p : `${flag}=${p}`;
    changed = true;
  }
  return changed ? out : undefined;
}

/** NODE_OPTIONS with its preloads pinned as {@link pinArgs} does; undefined when none needs it. */
export function pinNodeOptions(text: string, cwd = process.cwd()): string | undefined {
  const tokens = nodeOptionTokens(text);
  const values = pinArgs(
    tokens.map((t) => t.value),
    cwd,
  );
  if (values === undefined) return undefined;
  // A changed token is written whole in quotes (a path may hold spaces), escaping " and \.
  return values
    .map((v, i) => (v === tokens[i]?.value ? tokens[i]?.raw : `"${v.replace(/["\\]/g, '\\$&')}"`))
    .join(' ');
}

/**
 * The main thread's execArgv as its workers inherit it, less `--input-type` (of
 * `node --input-type=module -e ...`), of which a worker dies: "--input-type can only be used with
 * string input via --eval, --print, or STDIN". Undefined when there is none.
 */
function withoutInputType(argv: readonly string[]): string[] | undefined {
  const i = argv.findIndex((a) => a === '--input-type' || a.startsWith('--input-type='));
  if (i < 0) return undefined;
  return argv.filter((_, k) => k !== i && !(k === i + 1 && argv[i] === '--input-type'));
}

/** The execArgv and env this module supplies for a pool that left them unset (`own` says which it set). */
function supplied(own: { execArgv: boolean; env: boolean }): { execArgv?: string[]; env?: NodeJS.ProcessEnv } {
  const cwd = currentDir();
  const moved = cwd !== undefined && START_DIR !== undefined && cwd !== START_DIR;
  const out: { execArgv?: string[]; env?: NodeJS.ProcessEnv } = {};
  if (!own.execArgv) {
    const base = withoutInputType(process.execArgv);
    const argv = (moved && pinArgs(base ?? process.execArgv, cwd)) || base;
    if (argv !== undefined) out.execArgv = argv;
  }
  const nodeOptions = process.env.NODE_OPTIONS;
  if (!own.env && moved && nodeOptions) {
    const p = pinNodeOptions(nodeOptions, cwd);
    if (p !== undefined) out.env = { ...process.env, NODE_OPTIONS: p };
  }
  return out;
}

/** What Node refused of the supplied args (ERR_WORKER_INVALID_EXEC_ARGV), left out; undefined if none of it was ours. */
function withoutRefused(
  err: unknown,
  args: { execArgv?: string[]; env?: NodeJS.ProcessEnv },
): { execArgv?: string[]; env?: NodeJS.ProcessEnv } | undefined {
  if ((err as { code?: unknown })?.code !== 'ERR_WORKER_INVALID_EXEC_ARGV') return undefined;
  const msg = String((err as Error).message);
  const flags = /invalid execArgv flags: (.*)$/.exec(msg)?.[1]?.split(', ');
  if (flags && args.execArgv) {
    const kept = args.execArgv.filter((a) => !flags.includes(a));
    return kept.length < args.execArgv.length ? { ...args, execArgv: kept } : undefined;
  }
  // Node names it as `--openssl-legacy-provider`, or `--title=` for one that takes a value.
  const option = /NODE_OPTIONS env variable: (\S+?)=? is not allowed/.exec(msg)?.[1];
  const text = args.env?.NODE_OPTIONS;
  if (option !== undefined && text !== undefined) {
    const tokens = nodeOptionTokens(text);
    const kept = tokens.filter((t) => t.value !== option && !t.value.startsWith(`${option}=`));
    if (kept.length < tokens.length) return { ...args, env: { ...args.env, NODE_OPTIONS: kept.map((t) => t.raw).join(' ') } };
  }
  return undefined;
}

/** Flags Node refuses in a worker's own args are few; this bounds the retries on them. */
const MAX_REFUSED = 32;

/**
 * `new Worker(url, options)`, where what `options` leaves unset of execArgv and env is inherited
 * as this module's header says. Throws what `new Worker` throws for the caller's own options.
 */
export function startWorker(url: URL, options: WorkerOptions): Worker {
  let args = supplied({ execArgv: options.execArgv !== undefined, env: options.env !== undefined });
  for (let n = 0; n < MAX_REFUSED && (args.execArgv || args.env); n++) {
    try {
      return new Worker(url, { ...options, ...args });
    } catch (err) {
      const next = withoutRefused(err, args);
      if (next === undefined) break; // not ours to mend: start it as Node would have
      args = next;
    }
  }
  return new Worker(url, options);
}
