import { EventEmitter } from 'node:events';
import { now } from '../memory/clock.js';
import { InvalidArgumentError, TimeoutError } from '../memory/errors.js';
import { HISTOGRAM_BYTES, SharedHistogram } from '../memory/histogram.js';
import { defineSharedKind, isReopen, type Reopen, SharedObjectBase } from '../memory/shared-object.js';
import { spinLock, spinUnlock } from '../memory/spin-lock.js';
import { Step, stepHook } from '../memory/step-hook.js';
import { callable } from '../memory/validate.js';
import { abortError, checkWaitOptions, limitsOf, waitUntil } from '../memory/wait/index.js';
import { ABORTED, IN_USE, LOCK, ManagerLayout, QUEUED, TIMED_OUT } from './concurrency-manager-layout.js';
import {
  ACQUIRE_KEYS,
  type ConcurrencyAcquireOptions,
  type ConcurrencyManagerEvents,
  type ConcurrencyManagerMetrics,
  type ConcurrencyManagerOptions,
  type ManagerConfig,
  managerConfig,
  TRY_ACQUIRE_KEYS,
} from './concurrency-manager-options.js';
import { ConcurrencyPermit, permitHooks } from './concurrency-manager-permit.js';
import { ConcurrencyQueueFullError } from './errors.js';
import { type ExpiredLease, LeaseTable } from './lease-table.js';
import { checkInt, checkMs } from './limiter-util.js';

export type {
  ConcurrencyAcquireOptions,
  ConcurrencyManagerEvents,
  ConcurrencyManagerMetrics,
  ConcurrencyManagerOptions,
} from './concurrency-manager-options.js';
export { ConcurrencyPermit } from './concurrency-manager-permit.js';

// Memory: the lease and waiter tables (concurrency-manager-layout.ts), the wait histogram, the tag block.
const KIND = defineSharedKind<ManagerConfig, ConcurrencyManager>({
  name: 'ConcurrencyManager',
  tag: 9,
  layout: 1,
  checkConfig: managerConfig,
  bodyBytes: (c) => new ManagerLayout(c.maxConcurrency, c.queueLimit).bytes + HISTOGRAM_BYTES,
  init: (sab, c) => new ManagerLayout(c.maxConcurrency, c.queueLimit).init(sab),
  checkBody: (sab, c) => new ManagerLayout(c.maxConcurrency, c.queueLimit).check(sab),
  make: (r) => new ConcurrencyManager(r),
});

/**
 * A global priority semaphore in shared memory: at most `maxConcurrency` permits are held at once
 * by all threads together. Waiters are served by priority (10 first), FIFO within a priority, and
 * with `fair` their priority rises while they wait. Permits may carry a lease, so a worker that dies
 * holding one cannot leak it: it comes back when the lease expires. See lease-table.ts for the
 * scheduling and concurrency-manager-layout.ts for the memory.
 *
 * Crash safety: a dead holder's permit returns when its lease expires (any acquirer, or a waiter
 * that wakes for it, reclaims it; `permit.renew()` keeps a long job's lease alive). A thread that
 * dies while waiting leaves its place in line until its deadline passes (a releaser then drops it)
 * or until it is granted a permit: a grant not collected within a second goes to the next acquirer,
 * lease or not. So where threads may die holding permits, give them a lease (the `lease` option).
 *
 * @example
 * ```ts
 * const db = new ConcurrencyManager({ maxConcurrency: 10, queueLimit: 500, acquireTimeout: 5000, fair: true });
 * const rows = await db.run(() => query(sql), { priority: 8 });
 * pool.submit({ db });                           // workers share the same 10 permits
 * db.on('leaseExpired', (e) => log.warn('a holder died', e));
 * ```
 */
export class ConcurrencyManager extends SharedObjectBase<ManagerConfig> {
  readonly #L: ManagerLayout;
  readonly #t: LeaseTable;
  readonly #v: Int32Array;
  readonly #waits: SharedHistogram;
  readonly #events = new EventEmitter();
  readonly #timeout: number;
  readonly #lease: number;
  readonly #maxConcurrency: number;
  readonly #queueLimit: number;

  constructor(options: ConcurrencyManagerOptions);
  /** @internal rebuilds over checked memory; use {@link ConcurrencyManager.from}. */
  constructor(options: ConcurrencyManagerOptions | Reopen<ManagerConfig>);
  constructor(options: ConcurrencyManagerOptions | Reopen<ManagerConfig>) {
    super(KIND, isReopen(options) ? options : managerConfig(options));
    const { sab, config: c } = this.handle;
    this.#L = new ManagerLayout(c.maxConcurrency, c.queueLimit);
    this.#maxConcurrency = c.maxConcurrency;
    this.#queueLimit = c.queueLimit;
    this.#timeout = c.acquireTimeout;
    this.#lease = c.lease;
    this.#waits = new SharedHistogram(sab, this.#L.bytes);
    this.#t = new LeaseTable(sab, this.#L, c.fair, c.agingInterval, (ms) => this.#waits.record(ms));
    this.#v = this.#t.v;
  }

  /** The live manager for what arrived from another thread (the clone of one, or its `handle`). */
  static from(received: unknown): ConcurrencyManager {
    return KIND.open(received);
  }

  /** Permits held now, by all threads. */
  get inUse(): number {
    return Atomics.load(this.#v, IN_USE);
  }

  /** Acquires waiting now, in all threads. */
  get queued(): number {
    return Atomics.load(this.#v, QUEUED);
  }

  /** Listens to an event of this thread. */
  on<E extends keyof ConcurrencyManagerEvents>(
    event: E,
    listener: (...a: ConcurrencyManagerEvents[E]) => void,
  ): this {
    this.#events.on(event, listener as (...a: unknown[]) => void);
    return this;
  }

  /** Stops listening. */
  off<E extends keyof ConcurrencyManagerEvents>(
    event: E,
    listener: (...a: ConcurrencyManagerEvents[E]) => void,
  ): this {
    this.#events.off(event, listener as (...a: unknown[]) => void);
    return this;
  }

  #emit<E extends keyof ConcurrencyManagerEvents>(event: E, ...args: ConcurrencyManagerEvents[E]): void {
    if (this.#events.listenerCount(event) === 0) return;
    try {
      this.#events.emit(event, ...args);
    } catch (err) {
      // A throwing listener must not undo a grant or a release half-way: report it on its own.
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  #emitExpired(expired: ExpiredLease[]): void {
    for (const e of expired) this.#emit('leaseExpired', e);
  }

  #check(
    opts: ConcurrencyAcquireOptions | undefined,
    keys = ACQUIRE_KEYS,
    what = 'acquire options',
  ): { priority: number; lease: number; timeout: number } {
    if (opts !== undefined && (typeof opts !== 'object' || opts === null)) {
      throw new InvalidArgumentError('acquire options must be an object');
    }
    checkWaitOptions(opts, what, keys); // wait options and the keys of this call (priority, lease)
    const priority = checkInt(opts?.priority ?? 5, 'priority', 1, 10);
    const lease = opts?.lease === undefined ? this.#lease : checkMs(opts.lease, 'lease', false);
    return { priority, lease, timeout: opts?.timeout ?? this.#timeout };
  }

  /** The permit of slot `s` granted at generation `gen` (read under the lock that granted it). */
  #permit(s: number, gen: number, priority: number, waitedMs: number, lease: number): ConcurrencyPermit {
    const since = now();
    const hooks = permitHooks(this.#t, s, gen, lease, (at) =>
      this.#emit('release', { priority, heldMs: at - since, permit: s }),
    );
    const permit = new ConcurrencyPermit(hooks, priority, waitedMs);
    this.#emit('acquire', { priority, waitedMs, permit: s });
    return permit;
  }

  /** Takes a permit if one is free now and nobody waits; `undefined` otherwise. */
  tryAcquire(opts?: Pick<ConcurrencyAcquireOptions, 'priority' | 'lease'>): ConcurrencyPermit | undefined {
    const { priority, lease } = this.#check(opts, TRY_ACQUIRE_KEYS, 'tryAcquire options');
    const v = this.#v;
    const expired: ExpiredLease[] = [];
    const t = now();
    spinLock(v, LOCK);
    this.#t.reclaimDue(t, expired);
    const s = this.#t.tryTake(priority, lease, t);
    const pgen = s < 0 ? 0 : this.#t.permitGen(s);
    spinUnlock(v, LOCK);
    this.#emitExpired(expired);
    return s < 0 ? undefined : this.#permit(s, pgen, priority, 0, lease);
  }

  /**
   * Waits for a permit. Rejects with ConcurrencyQueueFullError at once when `queueLimit` acquires
   * already wait, with TimeoutError past `timeout` (default `acquireTimeout`), with AbortError on
   * abort; a rejected acquire holds nothing.
   */
  async acquire(opts?: ConcurrencyAcquireOptions): Promise<ConcurrencyPermit> {
    const { priority, lease, timeout } = this.#check(opts);
    const signal = opts?.signal;
    if (signal?.aborted) {
      this.#emit('reject', { priority, reason: 'abort' });
      throw abortError(signal);
    }
    const v = this.#v;
    const t = now();
    const deadline = t + timeout;
    const expired: ExpiredLease[] = [];
    spinLock(v, LOCK);
    this.#t.reclaimDue(t, expired);
    const s = this.#t.tryTake(priority, lease, t);
    const w = s >= 0 || timeout === 0 ? -1 : this.#t.waiters.enqueue(priority, lease, deadline, t);
    if (s < 0 && timeout === 0) this.#t.count(TIMED_OUT);
    const gen = w >= 0 ? this.#t.waiters.gen(w) : 0;
    const pgen = s < 0 ? 0 : this.#t.permitGen(s);
    spinUnlock(v, LOCK);
    this.#emitExpired(expired);
    if (s >= 0) return this.#permit(s, pgen, priority, 0, lease);
    if (timeout === 0) {
      this.#emit('reject', { priority, reason: 'timeout' });
      throw new TimeoutError('ConcurrencyManager.acquire timed out: no permit free and timeout is 0 ms');
    }
    if (w < 0) {
      this.#emit('reject', { priority, reason: 'queueFull' });
      throw new ConcurrencyQueueFullError(
        `ConcurrencyManager queue is full: ${this.#queueLimit} acquire(s) already wait for ${this.#maxConcurrency} permit(s)`,
      );
    }
    return this.#wait(w, gen, priority, lease, t, deadline, timeout, signal);
  }

  async #wait(
    w: number,
    gen: number,
    priority: number,
    lease: number,
    since: number,
    deadline: number,
    timeout: number,
    signal: AbortSignal | undefined,
  ): Promise<ConcurrencyPermit> {
    const t = this.#t;
    const waiters = t.waiters;
    const v = this.#v;
    let until = deadline;
    // Wakes on a grant or removal, and also when a lease that expires before `until` is granted
    // (the granter bumps every waiter's word then): time to plan the sleep again. MIN_EXPIRY is read
    // without the lock, but after the wake-up that announced it, so the value is whole.
    const news = (): true | undefined => (waiters.settled(w, gen) || t.minExpiry < until ? true : undefined);
    for (;;) {
      // Sleep until granted (or removed), the deadline, or the instant the earliest lease may
      // expire: then reclaim it ourselves, since its holder may be dead.
      const at = now();
      const expired: ExpiredLease[] = [];
      spinLock(v, LOCK);
      t.reclaimDue(at, expired);
      until = Math.min(deadline, t.minExpiry);
      spinUnlock(v, LOCK);
      this.#emitExpired(expired);
      if (waiters.settled(w, gen)) break;
      try {
        const left = until - at;
        const lim = { signal, timeout: left === Number.POSITIVE_INFINITY ? undefined : Math.max(0, left) };
        await waitUntil(waiters.wordOf(w), news, limitsOf(lim, 'ConcurrencyManager.acquire'));
        if (waiters.settled(w, gen)) break;
      } catch (err) {
        const timedOut = err instanceof TimeoutError;
        if (timedOut && now() < deadline) continue; // woke for a lease, not for our deadline
        // Given up, the lock not yet taken: a release may still grant us the permit (withdraw hands it on).
        if (stepHook !== undefined) stepHook(Step.ManagerWaiterGivesUp);
        spinLock(v, LOCK);
        t.withdraw(w, gen, timedOut ? TIMED_OUT : ABORTED, now());
        spinUnlock(v, LOCK);
        this.#emit('reject', { priority, reason: timedOut ? 'timeout' : 'abort' });
        if (!timedOut) throw err;
        throw new TimeoutError(`ConcurrencyManager.acquire timed out after ${timeout} ms`);
      }
    }
    spinLock(v, LOCK);
    const s = t.pickup(w, gen);
    const pgen = s < 0 ? 0 : t.permitGen(s);
    spinUnlock(v, LOCK);
    if (s < 0) {
      // Our slot was taken from us: a releaser found our deadline passed, or we came for our grant
      // after its lease or the pickup grace (lease-table.ts) ran out. Before the deadline: queue
      // again (that acquire counts how it ends). Otherwise this one ends here, counted here: nobody
      // else counts a waiter's end (lease-table.ts, Counting).
      const left = deadline - now();
      const aborted = signal?.aborted === true;
      if (left > 0 && !aborted) {
        return this.acquire({ priority, lease, signal, timeout: left });
      }
      spinLock(v, LOCK);
      t.count(aborted ? ABORTED : TIMED_OUT);
      spinUnlock(v, LOCK);
      this.#emit('reject', { priority, reason: aborted ? 'abort' : 'timeout' });
      if (aborted) throw abortError(signal);
      throw new TimeoutError(`ConcurrencyManager.acquire timed out after ${timeout} ms`);
    }
    return this.#permit(s, pgen, priority, now() - since, lease);
  }

  /**
   * Runs `fn` holding a permit and releases it however `fn` ends. A `fn` that is not a function
   * rejects with InvalidArgumentError at once, before any permit is waited for or taken.
   */
  async run<T>(
    fn: (permit: ConcurrencyPermit) => T | Promise<T>,
    opts?: ConcurrencyAcquireOptions,
  ): Promise<T> {
    callable(fn, 'ConcurrencyManager.run: fn');
    const permit = await this.acquire(opts);
    try {
      return await fn(permit);
    } finally {
      permit.release();
    }
  }

  /** Reclaims every expired lease now (acquirers do this by themselves); returns how many. */
  reclaimExpired(): number {
    const v = this.#v;
    const expired: ExpiredLease[] = [];
    const at = now();
    spinLock(v, LOCK);
    this.#t.reclaimDue(at, expired);
    spinUnlock(v, LOCK);
    this.#emitExpired(expired);
    return expired.length;
  }

  /** A consistent snapshot of the shared state. */
  metrics(): ConcurrencyManagerMetrics {
    const v = this.#v;
    spinLock(v, LOCK);
    const c = this.#t.counters();
    spinUnlock(v, LOCK);
    const wait = this.#waits.summary();
    // Exact mean and max from the locked counters; percentiles from the histogram.
    if (c.acquired > 0) {
      wait.mean = c.waitSum / c.acquired;
      wait.max = c.waitMax;
    }
    return {
      maxConcurrency: this.#maxConcurrency,
      inUse: c.inUse,
      available: this.#maxConcurrency - c.inUse,
      queued: c.queued,
      queueLimit: this.#queueLimit,
      acquired: c.acquired,
      released: c.released,
      rejected: c.rejected,
      timedOut: c.timedOut,
      aborted: c.aborted,
      leasesExpired: c.leasesExpired,
      wait,
    };
  }
}

