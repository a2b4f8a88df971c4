/**
 * Worker side: the first steps of a pool worker, before its loop: receive the init message, load
 * the modules that register shared kinds, then the task module. A module that fails to load is
 * reported to the main thread (which fails the pool's tasks with WorkerModuleError) and the worker exits.
 * Internal to the pool (not exported from the package root).
 */
import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import { errorToRecord, type WorkerInit } from '../shared/index.js';
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
    return { init, mod: await loadTaskModule(init.filename) };
  } catch (err) {
    port.postMessage({ type: 'init-error', error: errorToRecord(err) });
    process.exit(1);
  }
}
