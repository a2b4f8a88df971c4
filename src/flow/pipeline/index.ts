/**
 * Pipelines: stages on pools or on the main thread, with bounded buffers, dead letters and per-stage
 * policies; consecutive stages on one pool run as one chain task in a worker (chain.ts).
 */
import './chain-task.js'; // registers the chain builtin here too (workers get it from src/worker-preload.ts)

export { Pipeline, type PipelineOptions } from './pipeline.js';
export type { PipelineMetrics, StageMetrics } from './pipeline-stats.js';
export type { PoolStage, RunStage, StageLimiter, StageOptions, StageRunContext } from './stage-options.js';
