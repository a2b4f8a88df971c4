/**
 * The main thread's record of one worker: the thread, its index in the shared layout, its result
 * ring and histograms (which outlive it and pass to its replacement), and what health reports need.
 */
import type { Worker } from 'node:worker_threads';
import { fastNow as now } from '../../memory/clock.js';
import type { SharedHistogram } from '../../memory/histogram.js';
import type { WaitWord } from '../../memory/wait/index.js';
import type { ResultRingReader } from '../shared/index.js';
import { WORKER_MAIN_URL } from '../worker/index.js';
import { startWorker } from './inherited-args.js';
import type { ResolvedOptions } from './options.js';

/** Per-index shared memory that survives a worker's replacement. */
export interface IndexMemory {
  results: ResultRingReader;
  waitHist: SharedHistogram;
  runHist: SharedHistogram;
}

export class WorkerEntry {
  readonly worker: Worker;
  ready = false;
  exited = false;
  /** Set when the pool asked it to leave (idle shrink, close, restart): its exit is no crash. */
  leaving = false;
  /** `terminate()` was called on it: it may stop at any instruction (see dispatch.ts `publish`). */
  killed = false;
  lastError: Error | undefined;
  /** Its task module loaded and its setup() runs (it said so): a boot timeout is setup()'s. */
  inSetup = false;
  /** Fires if the worker is not ready within `bootTimeout` (cleared when it is, or exits). */
  bootTimer: ReturnType<typeof setTimeout> | undefined;
  /** The earliest end of a kill grace among its timed-out or aborted tasks (0: none). */
  killAt = 0;
  /** It asked to be replaced (maxTasksPerWorker, maxMemoryPerWorker): it leaves, but the pool still wants a worker. */
  recycled = false;
  /** It was asked to leave for idleness (sweep.ts), not by scaleDown or the cap. */
  idleRetired = false;
  /** When it was started (the clock of memory/clock.ts), for its utilization. */
  readonly startedAt = now();
  /** Tasks posted to it directly and not yet settled (counted when choosing a worker for the next). */
  direct = 0;

  constructor(
    readonly id: number,
    readonly index: number,
    readonly mem: IndexMemory,
    /** Its own wait word (shared/layout.ts WAKE): where it sleeps while it would claim nothing. */
    readonly wake: WaitWord<'pool.worker'>,
    options: Pick<ResolvedOptions, 'workerData' | 'resourceLimits' | 'env' | 'argv' | 'execArgv' | 'name'>,
  ) {
    // What the pool leaves unset of execArgv and env, the worker inherits (inherited-args.ts).
    this.worker = startWorker(WORKER_MAIN_URL, {
      workerData: options.workerData,
      resourceLimits: options.resourceLimits,
      name: `${options.name}-${id}`,
      ...(options.env === undefined ? {} : { env: options.env }),
      ...(options.argv === undefined ? {} : { argv: [...options.argv] }),
      ...(options.execArgv === undefined ? {} : { execArgv: [...options.execArgv] }),
    });
  }

  /** Stops the thread wherever it is; marked first, so nothing waits on it to act again. */
  terminate(): Promise<number> {
    this.killed = true;
    return this.worker.terminate();
  }
}
