/**
 * Worker side: the first steps of a pool worker, before its loop: receive the init message, load
 * the modules that register shared kinds, then the task module, and run its `setup(ctx)`. A module
 * that fails to load, or whose setup fails, is reported to the main thread (which fails the pool's
 * tasks with WorkerModuleError or WorkerSetupError and starts no more workers) and the worker exits.
 * Internal to the pool (not exported from the package root).
 */
import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import { errorToRecord, type WorkerInit } from '../shared/index.js';
import { lifeCycleHook, runSetup } from './life-cycle-hooks.js';
import { loadTaskModule, type TaskModule } from './task-module.js';

// The init message is posted right after the Worker is made, so it is normally queued already. It is
// pulled with receiveMessageOnPort, as all later mail is: a 'message' listener would be handed (and
// on removal could drop) messages meant to be pulled synchronously.
async function receiveInit(p: MessagePort): Promise<WorkerInit> {
  for (;;) {
    const m = receiveMessageOnPort(p);
    if (m) return m.message as WorkerInit;
    await new Promise((r) => setTimeout(r, 1));
  }
}

export async function boot(port: MessagePort): Promise<{ init: WorkerInit; mod: TaskModule }> {
  const init = await receiveInit(port);
  try {
    // Modules that register shared kinds (the package root), so shared objects in inputs arrive live.
    for (const url of init.preload) await import(url);
    const mod = await loadTaskModule(init.filename, init.tsx);
    // From here a boot timeout is setup()'s, and the main thread names it so.
    if (lifeCycleHook(mod, 'setup')) port.postMessage({ type: 'setup' });
    await runSetup(mod, init.filename, { workerId: init.workerId, workerData: init.workerData });
    return { init, mod };
  } catch (err) {
    port.postMessage({ type: 'init-error', error: errorToRecord(err) });
    process.exit(1);
  }
}
