/**
 * What a worker inherits of the main thread's start: its execArgv, and NODE_OPTIONS in its env.
 *
 * Node resolves a preload that is named relatively or bare (`--import tsx`, `-r ./setup.cjs`,
 * `NODE_OPTIONS=--import=tsx`) against the current directory when each worker starts, not when the
 * process did. A program that calls `process.chdir` before a pool starts a worker then loses its
 * workers ("Cannot find package 'tsx' imported from /elsewhere/"). So, while the directory differs
 * from the one this module was loaded in, the inherited preloads are named by where they resolve
 * from that one. A pool's own `execArgv` or `env` is the caller's word and is passed as given.
 */
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The directory the process's preloads were resolved from (as near as a module can know it). */
const START_CWD = process.cwd();

/** Flags whose value names a module to preload: ESM ones take a URL, CommonJS ones a path. */
const ESM_FLAGS = new Set(['--import', '--loader', '--experimental-loader']);
const CJS_FLAGS = new Set(['--require', '-r']);

/** `spec` named so that it resolves the same from any directory; `undefined` when it already does or cannot be. */
function pinned(flag: string, spec: string): string | undefined {
  if (isAbsolute(spec) || /^[a-z][a-z\d+.-]*:/i.test(spec)) return undefined; // a path or a URL
  const esm = ESM_FLAGS.has(flag);
  const relative = /^\.\.?([/\\]|$)/.test(spec);
  if (esm && relative) return pathToFileURL(resolvePath(START_CWD, spec)).href; // ESM adds no extension
  try {
    // A bare name, or a CommonJS relative one: found as Node found it at start, from the start directory.
    const file = createRequire(join(START_CWD, 'noop.js')).resolve(spec);
    return esm ? pathToFileURL(file).href : file;
  } catch {
    // Not found from there either: a relative path still names the file Node would have looked for.
    return relative ? resolvePath(START_CWD, spec) : undefined;
  }
}

/** `args` with each preload flag's relative or bare module pinned (a new array). */
function pinArgs(args: readonly string[]): string[] {
  const out = [...args];
  for (let i = 0; i < out.length; i++) {
    const a = out[i] as string;
    const eq = a.indexOf('=');
    const flag = eq < 0 ? a : a.slice(0, eq);
    if (!ESM_FLAGS.has(flag) && !CJS_FLAGS.has(flag)) continue;
    if (eq >= 0) {
      const p = pinned(flag, a.slice(eq + 1));
      if (p !== undefined) out[i] = `${flag}=${p}`;
    } else if (i + 1 < out.length) {
      const p = pinned(flag, out[i + 1] as string);
      if (p !== undefined) out[i + 1] = p;
      i++;
    }
  }
  return out;
}

/**
 * NODE_OPTIONS split as Node splits it: on spaces outside double quotes, where a backslash escapes
 * the next character. `raw` is the token as written, `value` without its quotes and escapes.
 */
function nodeOptionTokens(text: string): { raw: string; value: string }[] {
  const tokens = text.match(/(?:[^\s"]+|"(?:[^"\\]|\\.)*"?)+/g) ?? [];
  return tokens.map((raw) => ({
    raw,
    value: raw.replace(/"((?:[^"\\]|\\.)*)"?/g, (_, q: string) => q.replace(/\\(.)/g, '$1')),
  }));
}

/** NODE_OPTIONS with its preloads pinned; `undefined` when none changed. */
export function pinNodeOptions(text: string): string | undefined {
  const tokens = nodeOptionTokens(text);
  const values = pinArgs(tokens.map((t) => t.value));
  if (values.every((v, i) => v === tokens[i]?.value)) return undefined;
  // A changed token is written whole in quotes (a path may hold spaces), escaping " and \.
  return values
    .map((v, i) => (v === tokens[i]?.value ? tokens[i]?.raw : `"${v.replace(/["\\]/g, '\\$&')}"`))
    .join(' ');
}

/**
 * The main thread's execArgv as its workers inherit it, less `--input-type` (of
 * `node --input-type=module -e ...`), of which a worker dies: "--input-type can only be used with
 * string input via --eval, --print, or STDIN". `changed`: something was taken out.
 */
function execArgvBase(): { argv: string[]; changed: boolean } {
  const argv = process.execArgv;
  const i = argv.findIndex((a) => a === '--input-type' || a.startsWith('--input-type='));
  if (i < 0) return { argv, changed: false };
  return { argv: argv.filter((_, k) => k !== i && !(k === i + 1 && argv[i] === '--input-type')), changed: true };
}

/**
 * `new Worker` options for what a pool left unset (`own` says which of `execArgv` and `env` it
 * set); `{}` when a worker may inherit as is.
 */
export function inheritedWorkerArgs(own: { execArgv: boolean; env: boolean }): {
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
} {
  const moved = process.cwd() !== START_CWD;
  const out: { execArgv?: string[]; env?: NodeJS.ProcessEnv } = {};
  if (!own.execArgv) {
    const { argv, changed } = execArgvBase();
    if (moved) out.execArgv = pinArgs(argv);
    else if (changed) out.execArgv = [...argv];
  }
  const nodeOptions = process.env.NODE_OPTIONS;
  if (!own.env && moved && nodeOptions) {
    const pinnedOptions = pinNodeOptions(nodeOptions);
    if (pinnedOptions !== undefined) out.env = { ...process.env, NODE_OPTIONS: pinnedOptions };
  }
  return out;
}
