/**
 * `skein/internal`: what tests, bench and skein's own task modules need of the internals. Not part
 * of the public contract (that is src/index.ts): names here may change in any release.
 */
// The package root first: it sets the pool workers' preload, so shared objects revive there.
import './index.js';

export * from './memory/index.js';
export * from './sync/index.js';
export * from './pool/index.js';
export * from './resilience/index.js';
export * from './flow/index.js';
export * from './observe/index.js';
export { BreakerMemory } from './resilience/circuit-breaker-state.js';
export { TaskControls, taskAborted, taskProgress } from './pool/worker/worker-context.js';
export { setStepHook, Step, StepGate, stepHook } from './memory/step-hook.js';
export { createRing, ResultRingReader, ResultRingWriter, TaskRingReader, TaskRingWriter } from './pool/shared/index.js';
export { stallLimits } from './sync/channel/cut.js';
export { pinNodeOptions } from './pool/main/inherited-args.js';
export {
  decodeBatchFrame,
  decodeResultsFrame,
  encodeBatchColumns,
  encodeBatchFrame,
  encodeResultsFrame,
  forEachResult,
  FrameValue,
} from './flow/pipeline/batch-frame.js';
export { callTimed } from './flow/pipeline/stage-timeout.js';
export { pipelineStatsWords } from './flow/pipeline/pipeline-stats.js';
export { DONE as STAGE_DONE, STAGE_WORDS } from './flow/pipeline/chain.js';
// Channel internals for deterministic replays of cross-thread interleavings: several ChannelCore
// views over one buffer stand in for threads (each keeps its own caches, as a thread does).
export { ChannelCore } from './sync/channel/core.js';
export * as channelRing from './sync/channel/byte-ring.js';
export { PUT_OK, PUT_STREAM, TAKE_EMPTY } from './sync/channel/message.js';
