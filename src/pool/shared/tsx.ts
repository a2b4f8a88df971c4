/**
 * Whether, and from where, this process runs under tsx. Both sides use it: a worker on a Node whose
 * workers miss tsx's hooks loads a TypeScript task module through tsx's require hook, and needs a
 * tsx package to do it; the main thread tells its workers where it found one, since a pool's own
 * `execArgv` or `env` can leave a worker with no trace of the tsx its process was started with.
 */
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { currentDir, nodeOptionTokens, START_DIR } from './process-start.js';

/** A file name TypeScript (tsx, or a Node that strips types) runs. */
export const TS_FILE = /\.[mc]?ts$/;

const TSX = /(^|[\s/\\=])tsx([\s/\\]|$)/;

/** What this thread was started with: execArgv and NODE_OPTIONS (as Node reads it). */
function startArgs(): string[] {
  return [...process.execArgv, ...nodeOptionTokens(process.env.NODE_OPTIONS ?? '').map((t) => t.value)];
}

/**
 * Where a tsx package can be resolved from, when this thread runs under tsx: the tsx loaders it was
 * started with (the tsx command, `npx tsx` and `--import /abs/tsx/...` name them by absolute path
 * or file URL), and the directory the process started in, from which Node resolved a bare
 * `--import tsx` (then the current one, if the program moved).
 * Undefined when this thread does not run under tsx.
 */
export function tsxStartedFrom(): string[] | undefined {
  const args = startArgs();
  if (!TSX.test(args.join(' '))) return undefined;
  const from: string[] = [];
  for (const arg of args) {
    const spec = arg.replace(/^--[\w-]+=/, '');
    if (!TSX.test(spec)) continue;
    if (spec.startsWith('file:')) {
      try {
        from.push(fileURLToPath(spec));
      } catch {
        // not a file URL this platform can read
      }
    } else if (isAbsolute(spec)) from.push(spec);
  }
  if (START_DIR !== undefined) from.push(join(START_DIR, 'noop.js'));
  const cwd = currentDir();
  if (cwd !== undefined && cwd !== START_DIR) from.push(join(cwd, 'noop.js'));
  return from;
}
