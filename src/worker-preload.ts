/**
 * What every pool worker imports before its task module (the package root names this module
 * through setWorkerPreload): the modules whose side effects a worker needs, and no more. The flow
 * layer's builtin tasks register theirs (pipeline chains, data-parallel participants). The
 * main-thread API (pools, Pipeline, the registry, metrics) stays out: ~40% less code to load in
 * every worker. A task module that imports `skein` gets the rest, over the same shared chunks, so
 * classes stay one and the same.
 *
 * The shared kinds and error classes of the memory, sync and resilience layers (worker-kinds.ts),
 * so that Semaphores, Channels, breakers and limiters in task inputs arrive live, are loaded when
 * the first one arrives (memory/lazy-kinds.ts), on a Node that can load an ES module synchronously
 * (`require(esm)`: 20.19+, 22.12+): a pipeline's worker that never meets one starts ~8 ms sooner
 * (bench/pipeline-startup.ts). On an older Node they are loaded here, before the task module.
 * Internal (not a package export).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { setLazyKinds } from './memory/lazy-kinds.js';
import './flow/pipeline/chain-task.js';
import './flow/parallel/participant.js';

// Spelled as a URL beside this file, so the bundler checks it (both are entry points).
const KINDS = new URL('./worker-kinds.js', import.meta.url);

if ((process.features as { require_module?: boolean }).require_module === true) {
  setLazyKinds(() => createRequire(import.meta.url)(fileURLToPath(KINDS)));
} else {
  await import(KINDS.href);
}
