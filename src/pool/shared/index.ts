/**
 * What both sides of a pool use: the control block's layout and messages, the task and result
 * rings, and the error codec that carries a thrown error across the thread.
 */
export { bareRecord, errorToRecord, isErrorRecord, recordToError, registerErrorClass } from '../../memory/error-codec.js';
export type { ErrorRecord } from '../../memory/error-codec.js';
export {
  CLAIMED,
  type Layout,
  layoutFor,
  MAIN_SEQ,
  mainWord,
  type MainMessage,
  MAX_WORKER_INDEX,
  PRIO_MASK,
  ResultStatus,
  SlotState,
  SPINNER,
  STOP,
  TASK_SEQ,
  taskWord,
  W_CLAIMING,
  W_DONE,
  W_FAILED,
  W_INFLIGHT,
  W_MAIL,
  W_RETIRE,
  W_STATE,
  W_STRIDE,
  W_WAKE,
  wakeWord,
  type WorkerInit,
  type WorkerMessage,
  WORKERS_AT,
  WorkerState,
} from './layout.js';
export { ResultRingReader, ResultRingWriter } from './result-ring.js';
export { currentDir, nodeOptionTokens, START_DIR } from './process-start.js';
export { createRing, sabPrefix } from './ring.js';
export { TaskRingReader, TaskRingWriter } from './task-ring.js';
export {
  closureError,
  compileFunction,
  EXEC_TASK,
  type ExecInput,
  functionSource,
} from './self-contained.js';
export { TS_FILE, tsxStartedFrom } from './tsx.js';
