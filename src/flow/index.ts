/** The flow layer: data-parallel loops and pipelines (fan-out/fan-in in time). */
export { ParallelError, StageFailedError, UnhandledDeadLettersError, type DeadLetter } from './errors.js';
export * from './parallel/index.js';
export * from './pipeline/index.js';
export * from './fan/index.js';
