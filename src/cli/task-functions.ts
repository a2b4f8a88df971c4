/**
 * Finding the task module and its functions before any worker starts, so that a typo gets one
 * clear message naming the module or the function (and the functions it does have).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from './errors.js';
import { findTaskFunction, loadTaskModule } from '../pool/worker-api.js';

/**
 * Points `process.stdout` at this thread's stderr until the returned function is called: `skein
 * run`'s stdout carries results only, and a task module's own console.log or stdout writes (a debug
 * print, a "model loaded") put lines there that are not JSON, or went out with the results. Each
 * worker calls it before it loads the module (the global console takes `process.stdout` at its
 * first use) and keeps it; the main thread calls it around its own load of the module.
 */
export function stdoutToStderr(): () => void {
  const was = Object.getOwnPropertyDescriptor(process, 'stdout');
  if (!was) return () => {};
  Object.defineProperty(process, 'stdout', { configurable: true, enumerable: was.enumerable, get: () => process.stderr });
  return () => Object.defineProperty(process, 'stdout', was);
}

/** The names of a module's functions: its function exports and those of an object default export. */
function functionNames(mod: Record<string, unknown>): string[] {
  const names = Object.keys(mod).filter((k) => k !== 'default' && typeof mod[k] === 'function');
  if (typeof mod.default === 'function') names.unshift('default');
  const def = mod.default as Record<string, unknown> | undefined;
  if (def && typeof def === 'object')
    for (const k of Object.keys(def)) if (typeof def[k] === 'function') names.push(k);
  return names;
}

/**
 * The function `name` of `mod` ('' or 'default' for the default export), found as a pool finds it
 * (a tsc CommonJS default one level down, a class instance's methods bound to it), or a UsageError
 * naming it.
 */
export function findFunction(mod: Record<string, unknown>, name: string, file: string): unknown {
  try {
    return findTaskFunction(mod, name, file);
  } catch {
    // Said below in the command's words.
  }
  const have = functionNames(mod);
  const what = name === '' || name === 'default' ? 'no default export that is a function' : `no function '${name}'`;
  throw new UsageError(
    `task module ${file} has ${what} (its functions: ${have.length > 0 ? have.join(', ') : 'none'})`,
  );
}

/**
 * Resolves `spec` against the working directory, loads it and checks that every name in `fns`
 * is a function of it. Returns the absolute path.
 */
export async function checkTaskModule(spec: string, fns: string[]): Promise<string> {
  const file = resolve(spec);
  if (!existsSync(file)) throw new UsageError(`task module not found: ${spec} (looked for ${file})`);
  let mod: Record<string, unknown>;
  // A top-level await that nothing is left to settle empties the event loop: without this, the
  // process would end there, silently, with Node's exit code 13.
  let onIdle: (() => void) | undefined;
  const idle = new Promise<never>((_, reject) => {
    onIdle = () => reject(new Error('its top-level await never settles (nothing is left that could settle it)'));
    process.once('beforeExit', onIdle);
  });
  const restoreStdout = stdoutToStderr();
  try {
    mod = await Promise.race([loadTaskModule(file), idle]);
  } catch (err) {
    // loadTaskModule's error names the module already, and how to run a .ts one where Node cannot.
    const why = (err as Error).name === 'WorkerModuleError' ? (err as Error).message : `cannot load task module ${spec}: ${(err as Error).message}`;
    throw new UsageError(why, { cause: err });
  } finally {
    process.off('beforeExit', onIdle!);
    restoreStdout();
  }
  for (const name of fns.length > 0 ? fns : ['']) findFunction(mod, name, spec);
  return file;
}
