/**
 * Worker side: task functions every pool worker has besides its task module's, found by reserved
 * names that no module export can take by accident (they start with `skein:`).
 *
 * `skein:exec` runs a self-contained function (`pool.exec`). Layers above the pool add their own
 * (the flow layer's `parallelFor` driver) when the package root, which every worker imports first,
 * loads them. A builtin reaches the task module's own functions through {@link taskFunction}.
 * Internal (not exported from the package root).
 */
import { closureError, compileFunction, EXEC_TASK, type ExecInput } from '../shared/self-contained.js';
import { findTaskFunction, type TaskFunction, type TaskModule } from './task-module.js';

/** Prefix of every builtin task's name. */
export const BUILTIN_PREFIX = 'skein:';

const builtins = new Map<string, TaskFunction>();
let loaded: { mod: TaskModule; filename: string } | undefined;
const found = new Map<string, TaskFunction>();

/** Adds a builtin task (its name starts with `skein:`); the last registration of a name wins. */
export function registerBuiltinTask(name: string, fn: TaskFunction): void {
  if (!name.startsWith(BUILTIN_PREFIX)) throw new Error(`a builtin task's name starts with ${BUILTIN_PREFIX}`);
  builtins.set(name, fn);
}

/** The builtin named `name`, if any. */
export function builtinTask(name: string): TaskFunction | undefined {
  return name.startsWith(BUILTIN_PREFIX) ? builtins.get(name) : undefined;
}

/** Called once by the worker's boot: the task module its builtins may call into. */
export function setTaskModule(mod: TaskModule, filename: string): void {
  loaded = { mod, filename };
  found.clear();
}

/**
 * The task module's function `name` (`''`: the default export), for a builtin to call. Throws
 * TaskFunctionNotFoundError when there is none (or outside a pool worker).
 */
export function taskFunction(name: string): TaskFunction {
  let f = found.get(name);
  if (f) return f;
  if (!loaded) throw new Error('taskFunction is only available inside a pool worker');
  f = findTaskFunction(loaded.mod, name, loaded.filename);
  found.set(name, f);
  return f;
}

registerBuiltinTask(EXEC_TASK, (input) => {
  const { source, args } = input as ExecInput;
  const fn = compileFunction(source);
  const onError = (err: unknown): never => {
    throw closureError(err, 'the function given to pool.exec');
  };
  let r: unknown;
  try {
    r = fn(...args);
  } catch (err) {
    onError(err);
  }
  if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function') {
    return Promise.resolve(r).catch(onError);
  }
  return r;
});
