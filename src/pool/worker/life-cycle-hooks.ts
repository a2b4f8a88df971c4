/**
 * Worker side: a task module's optional `setup(ctx)` and `teardown()` exports, run once per worker:
 * `setup` after the module loads and before the worker takes its first task (a failure, or a
 * setup that can never settle, is reported as WorkerSetupError and the pool starts no more workers
 * for it), `teardown` when the worker
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

/**
 * Runs the module's `setup`, if any; throws WorkerSetupError (cause: setup's error) if it fails,
 * and WorkerSetupError too if it never settles with nothing left to settle it: a promise that
 * waits on nothing (no timer, no I/O, no message) lets the worker's event loop run empty, and the
 * thread would end there (as for any top-level await left pending), reported to the pool only as
 * a worker that died while it started, with no word of setup(). `'beforeExit'` comes just before.
 */
export async function runSetup(mod: TaskModule, filename: string, ctx: SetupContext): Promise<void> {
  const setup = lifeCycleHook(mod, 'setup');
  if (!setup) return;
  let neverSettled: WorkerSetupError | undefined;
  let stranded: (() => void) | undefined;
  const loopEmptied = new Promise<void>((resolve) => {
    stranded = resolve;
  });
  const onBeforeExit = (): void => {
    neverSettled = new WorkerSetupError(
      `setup() of task module ${filename} never settled in worker ${ctx.workerId}: the promise it returned is still pending and nothing is left in the worker's event loop that could settle it (no timer, I/O or message it waits on; an await on a promise that nothing resolves?)`,
    );
    stranded?.();
  };
  process.once('beforeExit', onBeforeExit);
  try {
    await Promise.race([setup(ctx), loopEmptied]);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new WorkerSetupError(`setup() of task module ${filename} failed in worker ${ctx.workerId}: ${msg}`, {
      cause: err,
    });
  } finally {
    process.off('beforeExit', onBeforeExit);
  }
  if (neverSettled) throw neverSettled;
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
