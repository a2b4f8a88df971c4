import { abortError, watchExit } from '../memory/wait/index.js';
import { BulkheadRejectedError } from './errors.js';
import { PolicyEvent, type Subscription } from './events.js';
import { checkMs } from './limiter-util.js';
import {
  checkExecuteOptions,
  checkFunction,
  contextFor,
  type ExecuteOptions,
  type Policy,
  type PolicyContext,
} from './policy.js';
import { integer, object, onlyKeys } from '../memory/validate.js';

/** Options of a {@link Bulkhead}. */
export interface BulkheadOptions {
  /** Calls that may run at once: an integer >= 1. */
  maxConcurrent: number;
  /** Calls that may wait for a slot: an integer >= 0 (default 0: a full bulkhead rejects at once). */
  maxQueue?: number;
  /** Longest wait in the queue, in ms; past it the call is rejected. Default Infinity. */
  maxWait?: number;
}

/** A queued call: a node of a doubly linked list, so the head leaves and an aborted call unlinks in O(1). */
interface Waiter {
  start: () => void;
  fail: (err: unknown) => void;
  prev: Waiter | undefined;
  next: Waiter | undefined;
}


/** `onReject`: a call was turned away, because line and slots were full or it waited `maxWait`. */
export interface BulkheadRejectEvent {
  readonly reason: 'full' | 'maxWait';
  /** Calls running when it was turned away. */
  readonly active: number;
  /** Calls waiting then. */
  readonly queued: number;
}

/**
 * Limits how many calls run at once in this thread, with a bounded waiting line. A call that finds
 * every slot busy and the line full, or that waits past `maxWait`, is rejected with
 * {@link BulkheadRejectedError}. The line is FIFO. (For a limit shared by all threads, use a
 * `Semaphore` or a `ConcurrencyManager`.)
 *
 * @example
 * ```ts
 * const bulkhead = new Bulkhead({ maxConcurrent: 8, maxQueue: 100, maxWait: 5000 });
 * const user = await bulkhead.execute(() => db.loadUser(id));
 * ```
 */
export class Bulkhead implements Policy<PolicyContext> {
  readonly #rejected = new PolicyEvent<BulkheadRejectEvent>();
  readonly #maxConcurrent: number;
  readonly #maxQueue: number;
  readonly #maxWait: number;
  #active = 0;
  #queued = 0;
  #head: Waiter | undefined;
  #tail: Waiter | undefined;

  constructor(opts: BulkheadOptions) {
    onlyKeys(object(opts, 'Bulkhead options'), 'Bulkhead options', ['maxConcurrent', 'maxQueue', 'maxWait']);
    this.#maxConcurrent = integer(opts.maxConcurrent, 'maxConcurrent', { min: 1 });
    // A queue in this thread's memory: Infinity (no bound) is legitimate (memory/validate.ts).
    this.#maxQueue = integer(opts.maxQueue ?? 0, 'maxQueue', { min: 0, infinity: true });
    this.#maxWait = checkMs(opts.maxWait ?? Number.POSITIVE_INFINITY, 'maxWait', true);
  }

  /** Calls `listener` each time a call is turned away (`BulkheadRejectedError`). */
  onReject(listener: (e: BulkheadRejectEvent) => void): Subscription {
    return this.#rejected.subscribe(listener, 'Bulkhead.onReject: listener');
  }

  /** Calls running now. */
  get active(): number {
    return this.#active;
  }

  /** Calls waiting for a slot now. */
  get queued(): number {
    return this.#queued;
  }

  /** Runs `fn({ signal })` in a free slot, waiting in line for one if needed. */
  execute<T>(fn: (ctx: PolicyContext) => T | PromiseLike<T>, opts?: ExecuteOptions): Promise<T> {
    checkFunction(fn, 'Bulkhead.execute: fn');
    checkExecuteOptions(opts, 'Bulkhead.execute');
    const signal = opts?.signal;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const ctx = contextFor(opts);
    if (this.#active < this.#maxConcurrent) return this.#run(fn, ctx);
    if (this.#queued >= this.#maxQueue) {
      this.#rejected.emit({ reason: 'full', active: this.#active, queued: this.#queued });
      return Promise.reject(
        new BulkheadRejectedError(
          `bulkhead full: ${this.#active} of ${this.#maxConcurrent} running, ${this.#queued} of ${this.#maxQueue} queued`,
        ),
      );
    }
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        start: () => {
          stopExit();
          this.#run(fn, ctx).then(resolve, reject);
        },
        fail: (err) => {
          stopExit();
          this.#unlink(waiter);
          reject(err);
        },
        prev: this.#tail,
        next: undefined,
      };
      // Its signal (one listener per signal: memory/signal-watch.ts) or maxWait (past setTimeout's
      // 24.8 days too) ends the wait.
      let waitedOut: Error | undefined;
      const stopExit = watchExit(
        signal,
        this.#maxWait,
        () => (waitedOut = new BulkheadRejectedError(`waited ${this.#maxWait} ms for a bulkhead slot`)),
        (err) => {
          waiter.fail(err);
          if (err === waitedOut) this.#rejected.emit({ reason: 'maxWait', active: this.#active, queued: this.#queued });
        },
      );
      if (this.#tail) this.#tail.next = waiter;
      else this.#head = waiter;
      this.#tail = waiter;
      this.#queued++;
    });
  }

  async #run<T>(fn: (ctx: PolicyContext) => T | PromiseLike<T>, ctx: PolicyContext): Promise<T> {
    this.#active++;
    try {
      return await fn(ctx);
    } finally {
      this.#active--;
      const w = this.#head;
      if (w !== undefined) {
        this.#unlink(w);
        w.start();
      }
    }
  }

  #unlink(w: Waiter): void {
    if (w.prev) w.prev.next = w.next;
    else this.#head = w.next;
    if (w.next) w.next.prev = w.prev;
    else this.#tail = w.prev;
    w.prev = w.next = undefined;
    this.#queued--;
  }
}
