/**
 * The wait module: one wait-word layout and protocol (word.ts), one place that parks (park.ts),
 * sleeps that own timeout, abort and the ref'd handle (sleep.ts), the bell every thread shares for
 * sleeping on several words at once (bell.ts), and loops built on them (until.ts, steps.ts). Every
 * layer waits through this face.
 */
export { abortError, watchAbort } from './abort.js';
export { type Bell, threadBell } from './bell.js';
export { watchExit } from './exit.js';
export {
  checkAborted,
  checkWaitOptions,
  type Limits,
  limitsOf,
  timeoutError,
  unlimited,
  type WaitOptions,
} from './options.js';
export { type AsyncPark, napSync, type ParkOutcome, parkAsync, parkSync, pendingAsyncWaitCount } from './park.js';
export { pause } from './pause.js';
export { type Interrupt, type SleepOutcome, SYNC_SLICE_MS, sleepAnySync, sleepAsync, sleepBelledSync, sleepSync } from './sleep.js';
export { runAsync, runSync, type Wait } from './steps.js';
export { blockUntil, waitUntil } from './until.js';
export {
  belledOf,
  bump,
  CENSUS_MIN_MS,
  enterBelled,
  leaveBelled,
  lingeringOf,
  newWord,
  notifyAll,
  notifyCounted,
  register,
  ring,
  seqOf,
  sleepersOf,
  unregister,
  WORD_SLOTS,
  type WaitWord,
  wordAt,
} from './word.js';
