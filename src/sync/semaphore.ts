import { InvalidArgumentError } from '../memory/errors.js';
import { corrupt, defineSharedKind, isReopen, type Reopen, SharedObjectBase } from '../memory/shared-object.js';
import { callable, integer, object } from '../memory/validate.js';
import { checkWaitOptions, type WaitOptions } from '../memory/wait/index.js';
import { SemaphoreReleaseError } from './errors.js';
import { Guard } from './guard.js';
import { checkCount, GATE_BYTES, gateMax, initGate, MAX_COUNT, TicketGate } from './ticket-gate/index.js';

/** What a Semaphore's handle carries besides its memory. */
interface SemaphoreConfig {
  readonly permits: number;
}

// Memory: a ticket gate (ticket-gate.ts) whose MAX is `permits`, then the tag block.
const SEMAPHORE = defineSharedKind<SemaphoreConfig, Semaphore>({
  name: 'Semaphore',
  tag: 1,
  layout: 1,
  checkConfig: (c) => ({
    permits: integer(object<SemaphoreConfig>(c, 'config').permits, 'permits', { min: 0, max: MAX_COUNT }),
  }),
  bodyBytes: () => GATE_BYTES,
  init: (sab, c) => initGate(sab, c.permits),
  checkBody: (sab, c) => {
    if (gateMax(sab) !== c.permits) throw corrupt('Semaphore', `its gate says ${gateMax(sab)} permits, not ${c.permits}`);
  },
  make: (r) => new Semaphore(r),
});

/**
 * A counting semaphore in shared memory, usable from every thread: async on the main thread,
 * async or blocking (`*Sync`) in workers. Weighted and FIFO-fair: a waiting large request is served
 * before smaller ones that came after it.
 *
 * @example
 * ```ts
 * const sem = new Semaphore(4);
 * pool.submit({ sem });                   // arrives in the worker as the same Semaphore
 * await sem.withPermit(() => fetchSomething());
 * using permit = await sem.acquire(2, { timeout: 1000 });
 * ```
 */
export class Semaphore extends SharedObjectBase<SemaphoreConfig> {
  readonly #gate: TicketGate;

  constructor(permits: number);
  /** @internal rebuilds over checked memory; use {@link Semaphore.from}. */
  constructor(permits: number | Reopen<SemaphoreConfig>);
  constructor(permits: number | Reopen<SemaphoreConfig>) {
    super(SEMAPHORE, isReopen(permits) ? permits : { permits: checkCount(permits, 'Semaphore permits', true) });
    this.#gate = new TicketGate(this.handle.sab);
  }

  /** The live Semaphore for what arrived from another thread (the clone of one, or its `handle`). */
  static from(received: unknown): Semaphore {
    return SEMAPHORE.open(received);
  }

  /** Permits free now. */
  get available(): number {
    return this.#gate.available;
  }

  /** Permits the semaphore was made with. */
  get permits(): number {
    return this.#gate.max;
  }

  #count(n: number | undefined): number {
    const c = checkCount(n ?? 1, 'permit count');
    if (c > this.#gate.max) {
      throw new InvalidArgumentError(`cannot take ${c} permits from a semaphore of ${this.#gate.max}`);
    }
    return c;
  }

  #guard(n: number): Guard {
    return new Guard(() => this.release(n));
  }

  /** Waits for `n` permits (default 1). Rejects with TimeoutError or AbortError, holding nothing. */
  async acquire(n?: number, opts?: WaitOptions): Promise<Guard> {
    const c = this.#count(n);
    checkWaitOptions(opts, 'Semaphore.acquire options');
    await this.#gate.take(c, opts, 'Semaphore.acquire');
    return this.#guard(c);
  }

  /** Takes `n` permits if they are free now and no one is waiting ahead; `undefined` otherwise. */
  tryAcquire(n?: number): Guard | undefined {
    const c = this.#count(n);
    return this.#gate.tryTake(c) ? this.#guard(c) : undefined;
  }

  /** Blocking form of {@link acquire}, for worker threads. Throws TimeoutError. */
  acquireSync(n?: number, opts?: WaitOptions): Guard {
    const c = this.#count(n);
    checkWaitOptions(opts, 'Semaphore.acquireSync options');
    this.#gate.takeSync(c, opts, 'Semaphore.acquireSync');
    return this.#guard(c);
  }

  /** Gives back `n` permits (default 1). Throws SemaphoreReleaseError past the initial permits. */
  release(n?: number): void {
    const c = checkCount(n ?? 1, 'release count');
    if (!this.#gate.give(c)) {
      throw new SemaphoreReleaseError(
        `release(${c}) would raise the semaphore above its ${this.#gate.max} permits (available: ${this.available})`,
      );
    }
  }

  /** Runs `fn` holding one permit and releases it however `fn` ends. */
  async withPermit<T>(fn: () => T | Promise<T>, opts?: WaitOptions): Promise<T> {
    callable(fn, 'Semaphore.withPermit: fn'); // before waiting: a bad fn must not queue or take a permit
    const g = await this.acquire(1, opts);
    try {
      return await fn();
    } finally {
      g.release();
    }
  }
}

