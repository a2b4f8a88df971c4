import type { HistogramSummary } from '../memory/histogram.js';
import type { WaitOptions } from '../memory/wait/index.js';
import { MAX_PERMITS, MAX_QUEUE } from './concurrency-manager-layout.js';
import { allKeys, boolean, integer, millis, object, onlyKeys } from '../memory/validate.js';

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

/**
 * A snapshot of a manager's state, gathered from all threads. Every acquire that waits ends one
 * way, counted once: `acquired`, `timedOut` or `aborted` (one whose thread died while it waited is
 * in none).
 */
export interface ConcurrencyManagerMetrics {
  maxConcurrency: number;
  inUse: number;
  available: number;
  queued: number;
  queueLimit: number;
  /**
   * Permits handed to their callers (acquire, run, tryAcquire), counted when the caller gets one: a
   * permit granted to a waiter that gave up as it arrived (its timeout or abort racing the release)
   * is handed on and counted only as that waiter's timeout or abort.
   */
  acquired: number;
  released: number;
  /** Refused at once: the queue was full. */
  rejected: number;
  /** Acquires that rejected with TimeoutError (`timeout: 0` with no permit free included). */
  timedOut: number;
  /** Acquires that waited and rejected with AbortError (one whose signal had aborted before the call is not counted). */
  aborted: number;
  /** Holdings reclaimed when their lease ran out, and grants not collected within the pickup grace (a waiter whose thread died). */
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

const MANAGER_KEYS = allKeys<ConcurrencyManagerOptions>({
  maxConcurrency: true,
  queueLimit: true,
  acquireTimeout: true,
  fair: true,
  agingInterval: true,
  lease: true,
});

/** What an acquire takes (a tryAcquire: `priority` and `lease` only). */
export const ACQUIRE_KEYS = allKeys<ConcurrencyAcquireOptions>({ priority: true, lease: true, signal: true, timeout: true });
export const TRY_ACQUIRE_KEYS = allKeys<Pick<ConcurrencyAcquireOptions, 'priority' | 'lease'>>({ priority: true, lease: true });

/** Checks a manager's options object (named errors at the call site) and fills in the defaults. */
export function managerConfig(options: unknown): ManagerConfig {
  const o = object<ConcurrencyManagerOptions>(options, 'ConcurrencyManager options');
  onlyKeys(o, 'ConcurrencyManager options', MANAGER_KEYS);
  return {
    maxConcurrency: integer(o.maxConcurrency, 'maxConcurrency', { min: 1, max: MAX_PERMITS }),
    queueLimit: integer(o.queueLimit ?? 1024, 'queueLimit', { min: 0, max: MAX_QUEUE }),
    acquireTimeout: millis(o.acquireTimeout ?? Number.POSITIVE_INFINITY, 'acquireTimeout', { infinity: true }),
    fair: boolean(o.fair ?? false, 'fair'),
    agingInterval: millis(o.agingInterval ?? 1000, 'agingInterval', { positive: true }),
    lease: millis(o.lease ?? Number.POSITIVE_INFINITY, 'lease', { positive: true, infinity: true }),
  };
}
