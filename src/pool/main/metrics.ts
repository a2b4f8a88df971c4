import type { HistogramSummary } from '../../memory/histogram.js';

/** What `pool.metrics()` returns. Times are milliseconds. */
export interface PoolMetrics {
  workers: number;
  peakWorkers: number;
  /** Workers running at least one task now. */
  busy: number;
  /** Tasks waiting to start. */
  queued: number;
  /** Tasks handed to workers and not yet settled. */
  inFlight: number;
  completed: number;
  failed: number;
  /** From submit to start, recorded by the workers in shared memory. */
  waitTime: HistogramSummary;
  /** From start to end, recorded by the workers. */
  runTime: HistogramSummary;
  /** Share of worker time spent running tasks since the pool started (0..1; overlapping tasks count per slot). */
  utilization: number;
  /**
   * The main thread's short spins for results after handing out tasks (option `spinMicros`):
   * how many it did, and how many found a result before giving up.
   */
  mainSpins: { tries: number; hits: number };
  /** Per live worker: its time running tasks over its time alive (0..1). */
  workerUtilization: { workerId: number; utilization: number }[];
}

/** One worker's entry in `pool.getHealthStatus()`. */
export interface HealthStatus {
  workerId: number;
  alive: boolean;
  /** Loaded its task module and joined the pool. */
  ready: boolean;
  busy: boolean;
  tasksDone: number;
  tasksFailed: number;
  lastError: Error | undefined;
  /** `worker.performance.eventLoopUtilization()` of the worker (0..1). */
  eventLoopUtilization: number;
  /** Its time running tasks over its time alive, since it started (0..1). */
  utilization: number;
  /** Milliseconds since it last finished a task (0 while busy). */
  idleMs: number;
  /** Alive and not stuck on one task past `unhealthyAfter` (counted from the task's last progress: see that option). */
  healthy: boolean;
}
