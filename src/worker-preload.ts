/**
 * What every pool worker imports before its task module (the package root names this module
 * through setWorkerPreload): the modules whose side effects a worker needs, and no more. Every
 * shared kind registers itself (so Semaphores, Channels, breakers and limiters in task inputs
 * arrive live), and the flow layer's builtin tasks register theirs (pipeline chains,
 * data-parallel participants). The main-thread API (pools, Pipeline, the registry, metrics) stays
 * out: ~40% less code to load in every worker. A task module that imports `skein` gets the rest,
 * over the same shared chunks, so classes stay one and the same.
 * Internal (not a package export).
 */
import './memory/index.js';
import './sync/index.js';
import './resilience/index.js';
import './flow/pipeline/chain-task.js';
import './flow/parallel/participant.js';
