/**
 * Loading a task module in a worker and finding its functions.
 *
 * A task module exports a default and/or named functions `(input, ctx) => output | Promise<output>`.
 * `.js`, `.mjs` and `.cjs` load everywhere. `.ts`/`.mts`/`.cts` load on a Node that strips types
 * (22.18+), or when the process runs under tsx (`node --import tsx`, `tsx main.ts`): on Node 20 tsx
 * registers its ESM hooks on the main thread only, so a worker that cannot import the file asks tsx's
 * require hook for it instead, from a tsx package found next to the file or where the process (its
 * own execArgv and NODE_OPTIONS, or the main thread's, which a pool's execArgv or env can replace)
 * got tsx (shared/tsx.ts). Otherwise the error names both routes instead of Node's bare
 * ERR_UNKNOWN_FILE_EXTENSION.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { TaskFunctionNotFoundError, WorkerModuleError } from '../errors.js';
import { TS_FILE, tsxStartedFrom } from '../shared/tsx.js';

export type TaskFunction = (input: unknown, ctx: unknown) => unknown;
export type TaskModule = Record<string, unknown>;

/** What Node's type stripping refuses in a module (or its imports) that tsx runs. */
const TSX_ONLY = new Set([
  'ERR_MODULE_NOT_FOUND',
  'ERR_UNSUPPORTED_DIR_IMPORT',
  'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX',
  'ERR_INVALID_TYPESCRIPT_SYNTAX',
]);

/**
 * Loads a TypeScript file through tsx's require hook (tsx compiles import/export to CommonJS), with
 * the first tsx package found from the task module or from the places `from` names.
 */
async function requireThroughTsx(filename: string, tsxFrom: readonly string[]): Promise<TaskModule> {
  const from = [...new Set([filename, ...tsxFrom])];
  let apiPath: string | undefined;
  for (const f of from) {
    try {
      apiPath = createRequire(f).resolve('tsx/cjs/api');
      break;
    } catch {
      // not from here
    }
  }
  if (apiPath === undefined) {
    throw new WorkerModuleError(
      `cannot load task module ${filename}: the process runs under tsx, but tsx's hooks do not reach worker threads on Node ${process.versions.node} and a worker found no tsx package from ${from.join(', ')}. Install tsx where the task module resolves it (\`npm i -D tsx\` in its project), start node with --import naming tsx's loader by absolute path, use Node >= 22.18 (which strips types), or point the pool at the compiled .js`,
    );
  }
  const api = (await import(pathToFileURL(apiPath).href)) as { register(): unknown };
  api.register();
  return createRequire(filename)(filename) as TaskModule;
}

/**
 * Imports a task module. `hostTsx`: where the pool's main thread, if it runs under tsx, found tsx
 * (`tsxStartedFrom()` there), for a worker whose own execArgv and environment the pool replaced.
 */
export async function loadTaskModule(filename: string, hostTsx?: readonly string[]): Promise<TaskModule> {
  try {
    return (await import(pathToFileURL(filename).href)) as TaskModule;
  } catch (err) {
    // Read defensively: a module may throw null, a Proxy, or an error whose getters throw.
    let code: unknown;
    let why: string;
    try {
      code = (err as { code?: unknown }).code;
      why = String((err as Error).message);
    } catch {
      why = 'it threw a value that cannot be read';
    }
    let hint = '';
    if (TS_FILE.test(filename)) {
      const noTs = code === 'ERR_UNKNOWN_FILE_EXTENSION' || code === 'ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING';
      const ownTsx = tsxStartedFrom();
      // A worker the pool's execArgv or env left without the tsx its main thread runs under: Node's
      // type stripping refused what tsx runs (an enum, `import './b.js'` of b.ts), so tsx runs it.
      const lostTsx = hostTsx !== undefined && ownTsx === undefined && typeof code === 'string' && TSX_ONLY.has(code);
      if ((noTs && (ownTsx || hostTsx)) || lostTsx) {
        try {
          return await requireThroughTsx(filename, [...(ownTsx ?? []), ...(hostTsx ?? [])]);
        } catch (tsxErr) {
          if (tsxErr instanceof WorkerModuleError) throw tsxErr;
          const msg = String((tsxErr as Error)?.message);
          // tsx's require hook compiles to CommonJS, which has no top-level await: its error speaks of a
          // "cjs output format" the author never chose.
          const tla = /top-level await/i.test(msg)
            ? ` (a worker loads TypeScript through tsx's CommonJS hook, which cannot run top-level await: move that work into an exported setup(ctx), use Node >= 22.18, which strips types, or point the pool at the compiled .js)`
            : '';
          throw new WorkerModuleError(`cannot load task module ${filename} through tsx: ${msg}${tla}`, {
            cause: tsxErr,
          });
        }
      }
      if (code === 'ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING')
        hint = ` (Node strips types only outside node_modules: run under tsx, \`node --import tsx main.js\` or \`tsx main.ts\`, or point the pool at the package's compiled .js)`;
      else if (noTs)
        hint = ` (Node ${process.versions.node} cannot run TypeScript by itself: use Node >= 22.18, which strips types, or install tsx and run under it, \`node --import tsx main.js\` or \`tsx main.ts\`; or point the pool at the compiled .js)`;
    }
    throw new WorkerModuleError(`cannot load task module ${filename}: ${why}${hint}`, {
      cause: err,
    });
  }
}

/**
 * `obj[name]` if `obj` or a prototype of its own (a class instance's methods) has it: never a member
 * of Object.prototype or Function.prototype (`toString`, `constructor`, `call`), which every default
 * object or function has but no module author exported.
 */
export function memberOf(obj: unknown, name: string): unknown {
  for (let o = obj; o !== null && o !== undefined; o = Object.getPrototypeOf(o)) {
    if (o === Object.prototype || o === Function.prototype) return undefined;
    const d = Object.getOwnPropertyDescriptor(o, name);
    if (d) return 'value' in d ? d.value : (obj as Record<string, unknown>)[name];
  }
  return undefined;
}

/**
 * `def[name]` called as a method of `def`, as `def.name(x)` would be: a default export that is a
 * class instance (`module.exports = new Api()`) has methods that read `this`.
 */
export function methodOf(def: unknown, name: string): unknown {
  const f = memberOf(def, name);
  return typeof f === 'function' ? (f as (...a: unknown[]) => unknown).bind(def) : f;
}

/** The function `name` (or the default export for `''` or `'default'`) of a loaded module. */
export function findTaskFunction(mod: TaskModule, name: string, filename: string): TaskFunction {
  const def = mod.default as Record<string, unknown> | TaskFunction | undefined;
  // A CommonJS module imported as ESM arrives whole as `default`; tsc's CommonJS output of
  // `export default fn` is `exports.default = fn`, so its default function sits one level down.
  const nested = def && typeof def === 'object' ? def.default : undefined;
  // 'default' (a typed pool's name for it) finds the default export as '' does, nested or not.
  const isDefault = name === '' || name === 'default';
  const fn =
    isDefault
      ? typeof def === 'function'
        ? def
        : nested
      : // A function default may carry more (CommonJS `module.exports = fn; fn.other = g`).
        (memberOf(mod, name) ?? methodOf(def, name));
  if (typeof fn === 'function') return fn as TaskFunction;
  const names = Object.keys(mod).filter((k) => typeof mod[k] === 'function');
  if (def && (typeof def === 'object' || typeof def === 'function'))
    for (const k of Object.keys(def)) if (typeof (def as Record<string, unknown>)[k] === 'function') names.push(k);
  const what =
    isDefault ? 'default export that is a function' : `export named '${name}' that is a function`;
  throw new TaskFunctionNotFoundError(
    `task module ${filename} has no ${what} (its functions: ${names.length ? names.join(', ') : 'none'})`,
  );
}
