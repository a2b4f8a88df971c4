/** The flow layer: data-parallel loops (and, in time, pipelines and fan-out/fan-in). */
export * from './errors.js';
export * from './parallel/index.js';
