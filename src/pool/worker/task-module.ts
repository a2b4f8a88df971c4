/**
 * Loading a task module in a worker and finding its functions.
 *
 * A task module exports a default and/or named functions `(input, ctx) => output | Promise<output>`.
 * `.js`, `.mjs` and `.cjs` load everywhere; `.ts`/`.mts`/`.cts` load when the process runs under a
 * TypeScript loader (workers inherit `execArgv`, so `node --import tsx` covers them) or on a Node that
 * strips types (22.18+). Otherwise the error says so instead of Node's bare ERR_UNKNOWN_FILE_EXTENSION.
 */
import { pathToFileURL } from 'node:url';
import { TaskFunctionNotFoundError, WorkerModuleError } from '../errors.js';

export type TaskFunction = (input: unknown, ctx: unknown) => unknown;
export type TaskModule = Record<string, unknown>;

const TS = /\.[mc]?ts$/;

export async function loadTaskModule(filename: string): Promise<TaskModule> {
  try {
    return (await import(pathToFileURL(filename).href)) as TaskModule;
  } catch (err) {
    const code = (err as { code?: string }).code;
    let hint = '';
    if (
      TS.test(filename) &&
      (code === 'ERR_UNKNOWN_FILE_EXTENSION' || code === 'ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING')
    ) {
      hint = ` (Node ${process.versions.node} cannot run TypeScript by itself: run under a loader such as tsx, e.g. \`node --import tsx\`, use Node >= 22.18, or point the pool at the compiled .js)`;
    }
    throw new WorkerModuleError(`cannot load task module ${filename}: ${(err as Error).message}${hint}`, {
      cause: err,
    });
  }
}

/** The function `name` (or the default export for `''`) of a loaded module. */
export function findTaskFunction(mod: TaskModule, name: string, filename: string): TaskFunction {
  const def = mod.default as Record<string, unknown> | TaskFunction | undefined;
  const fn = name === '' ? def : (mod[name] ?? (def && typeof def === 'object' ? def[name] : undefined));
  if (typeof fn === 'function') return fn as TaskFunction;
  const names = Object.keys(mod).filter((k) => typeof mod[k] === 'function');
  if (def && typeof def === 'object')
    for (const k of Object.keys(def)) if (typeof def[k] === 'function') names.push(k);
  const what =
    name === '' ? 'default export that is a function' : `export named '${name}' that is a function`;
  throw new TaskFunctionNotFoundError(
    `task module ${filename} has no ${what} (its functions: ${names.length ? names.join(', ') : 'none'})`,
  );
}
