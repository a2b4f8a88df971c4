/**
 * Worker side: a task module's optional `setup(ctx)` and `teardown()` exports, run once per worker:
 * `setup` after the module loads and before the worker takes its first task (a failure is reported
 * as WorkerSetupError and the pool starts no more workers for it), `teardown` when the worker
 * leaves on purpose (idle shrink, scaleDown, recycling, a graceful close). A worker that crashes or
 * is terminated runs no teardown. A teardown that outlasts the main thread's grace (2 s) is cut short
 * by terminating the worker, so one that hangs neither stalls a recycled worker's successor nor a close.
 * Internal to the pool (not exported from the package root).
 */
import { WorkerSetupError } from '../errors.js';
import { memberOf, methodOf, type TaskModule } from './task-module.js';

/** What `setup(ctx)` receives. */
export interface SetupContext {
  /** The pool's id of this worker. */
  readonly workerId: number;
  /** The pool's `workerData` option. */
  readonly workerData: unknown;
}

type Hook = (ctx?: SetupContext) => unknown;

/** The module's own `setup` or `teardown` (an export, or a method of its default export), if it has one. */
export function lifeCycleHook(mod: TaskModule, name: 'setup' | 'teardown'): Hook | undefined {
  const f = memberOf(mod, name) ?? methodOf(mod.default, name);
  return typeof f === 'function' ? (f as Hook) : undefined;
}

/** Runs the module's `setup`, if any; throws WorkerSetupError (cause: setup's error) if it fails. */
export async function runSetup(mod: TaskModule, filename: string, ctx: SetupContext): Promise<void> {
  const setup = lifeCycleHook(mod, 'setup');
  if (!setup) return;
  try {
    await setup(ctx);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new WorkerSetupError(`setup() of task module ${filename} failed in worker ${ctx.workerId}: ${msg}`, {
      cause: err,
    });
  }
}

let tornDown = false;

/** Runs the module's `teardown`, if any, once; its errors are reported on stderr, not thrown. */
export async function runTeardown(mod: TaskModule): Promise<void> {
  const teardown = lifeCycleHook(mod, 'teardown');
  if (!teardown || tornDown) return;
  tornDown = true;
  try {
    await teardown();
  } catch (err) {
    console.error('skein: teardown() of the task module failed:', err);
  }
}
