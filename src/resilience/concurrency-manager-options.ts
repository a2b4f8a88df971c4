import { InvalidArgumentError } from '../memory/errors.js';
import type { HistogramSummary } from '../memory/histogram.js';
import type { WaitOptions } from '../memory/wait/index.js';
import { MAX_PERMITS, MAX_QUEUE } from './concurrency-manager-layout.js';
import { checkInt, checkMs } from './limiter-util.js';

/** Options of a {@link ConcurrencyManager}. Every time is in milliseconds. */
export interface ConcurrencyManagerOptions {
  /** Most permits held at once, across all threads; integer >= 1. */
  maxConcurrency: number;
  /** Most acquires waiting at once (0: none wait); past it ConcurrencyQueueFullError. Default 1024, at most 65536. */
  queueLimit?: number;
  /** Default wait limit of an acquire (TimeoutError past it). Default Infinity. */
  acquireTimeout?: number;
  /** Age waiting acquires so low priorities are not starved: +1 priority per `agingInterval` waited. */
  fair?: boolean;
  /** With `fair`: ms of waiting that raise a waiter's priority by one (up to 10). Default 1000. */
  agingInterval?: number;
  /** Default lease of a permit: it is reclaimed this long after the grant unless renewed. Default Infinity. */
  lease?: number;
}

/** Options of one acquire. */
export interface ConcurrencyAcquireOptions extends WaitOptions {
  /** 1 (lowest) .. 10 (highest); default 5. Higher priorities are served first, FIFO within one. */
  priority?: number;
  /** This permit's lease (ms); default the manager's `lease`. */
  lease?: number;
}

/** A snapshot of a manager's state, gathered from all threads. */
export interface ConcurrencyManagerMetrics {
  maxConcurrency: number;
  inUse: number;
  available: number;
  queued: number;
  queueLimit: number;
  acquired: number;
  released: number;
  /** Refused at once: the queue was full. */
  rejected: number;
  timedOut: number;
  aborted: number;
  leasesExpired: number;
  /** Time from acquire to grant, ms: count, exact mean and max; p50/p90/p99 from log buckets (about 19% wide). */
  wait: HistogramSummary;
}

/** Events, each emitted in the thread that observes it. */
export interface ConcurrencyManagerEvents {
  acquire: [{ priority: number; waitedMs: number; permit: number }];
  release: [{ priority: number; heldMs: number; permit: number }];
  leaseExpired: [{ priority: number; heldMs: number; permit: number }];
  reject: [{ priority: number; reason: 'queueFull' | 'timeout' | 'abort' }];
}

/** Options after checks and defaults: what travels in the handle. */
export interface ManagerConfig {
  maxConcurrency: number;
  queueLimit: number;
  acquireTimeout: number;
  fair: boolean;
  agingInterval: number;
  lease: number;
}

/** Checks a manager's options object (named errors at the call site) and fills in the defaults. */
export function managerConfig(o: ConcurrencyManagerOptions): ManagerConfig {
  if (o.fair !== undefined && typeof o.fair !== 'boolean') {
    throw new InvalidArgumentError(`ConcurrencyManager fair must be a boolean, got ${String(o.fair)}`);
  }
  return {
    maxConcurrency: checkInt(o.maxConcurrency, 'ConcurrencyManager maxConcurrency', 1, MAX_PERMITS),
    queueLimit: checkInt(o.queueLimit ?? 1024, 'ConcurrencyManager queueLimit', 0, MAX_QUEUE),
    acquireTimeout: checkMs(o.acquireTimeout ?? Number.POSITIVE_INFINITY, 'acquireTimeout', true),
    fair: o.fair ?? false,
    agingInterval: checkMs(o.agingInterval ?? 1000, 'agingInterval', false),
    lease: checkMs(o.lease ?? Number.POSITIVE_INFINITY, 'lease', false),
  };
}
