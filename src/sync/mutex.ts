import {
  corrupt,
  defineSharedKind,
  isReopen,
  type NoConfig,
  noConfig,
  type Reopen,
  SharedObjectBase,
} from '../memory/shared-object.js';
import { callable } from '../memory/validate.js';
import { checkWaitOptions, type WaitOptions } from '../memory/wait/index.js';
import { MutexUnlockError } from './errors.js';
import { Guard } from './guard.js';
import { GATE_BYTES, gateMax, initGate, TicketGate } from './ticket-gate/index.js';

// Memory: a one-permit ticket gate (ticket-gate.ts), then the tag block.
const MUTEX = defineSharedKind<NoConfig, Mutex>({
  name: 'Mutex',
  tag: 2,
  layout: 1,
  checkConfig: noConfig,
  bodyBytes: () => GATE_BYTES,
  init: (sab) => initGate(sab, 1),
  checkBody: (sab) => {
    if (gateMax(sab) !== 1) throw corrupt('Mutex', `its gate says ${gateMax(sab)} permits, not 1`);
  },
  make: (r) => new Mutex(r),
});

/**
 * A FIFO mutex in shared memory (a one-permit ticket gate): waiters get the lock in arrival order,
 * from any thread.
 *
 * @example
 * ```ts
 * const m = new Mutex();
 * {
 *   using _ = await m.lock();
 *   counter[0]++;               // plain, non-atomic access is safe inside
 * }
 * await m.withLock(() => counter[0]++);
 * m.withLockSync(() => counter[0]++);   // in a worker: blocks until it has the lock
 * ```
 */
export class Mutex extends SharedObjectBase<NoConfig> {
  readonly #gate: TicketGate;

  constructor();
  /** @internal rebuilds over checked memory; use {@link Mutex.from}. */
  constructor(reopen?: Reopen<NoConfig>);
  constructor(reopen?: Reopen<NoConfig>) {
    super(MUTEX, isReopen(reopen) ? reopen : {});
    this.#gate = new TicketGate(this.handle.sab);
  }

  /** The live Mutex for what arrived from another thread. */
  static from(received: unknown): Mutex {
    return MUTEX.open(received);
  }

  /** Whether some thread holds the lock now. */
  get locked(): boolean {
    return this.#gate.available === 0;
  }

  #guard(): Guard {
    return new Guard(() => this.unlock());
  }

  /** Waits for the lock. Rejects with TimeoutError or AbortError without holding it. */
  async lock(opts?: WaitOptions): Promise<Guard> {
    checkWaitOptions(opts, 'Mutex.lock options');
    await this.#gate.take(1, opts, 'Mutex.lock');
    return this.#guard();
  }

  /** Takes the lock if it is free and no one waits; `undefined` otherwise. */
  tryLock(): Guard | undefined {
    return this.#gate.tryTake(1) ? this.#guard() : undefined;
  }

  /** Blocking form of {@link lock}, for worker threads. */
  lockSync(opts?: WaitOptions): Guard {
    checkWaitOptions(opts, 'Mutex.lockSync options');
    this.#gate.takeSync(1, opts, 'Mutex.lockSync');
    return this.#guard();
  }

  /** Releases the lock. Throws MutexUnlockError if it is not locked. */
  unlock(): void {
    if (!this.#gate.give(1)) throw new MutexUnlockError('unlock() of a mutex that is not locked');
  }

  /** Runs `fn` holding the lock. */
  async withLock<T>(fn: () => T | Promise<T>, opts?: WaitOptions): Promise<T> {
    callable(fn, 'Mutex.withLock: fn'); // before waiting: a bad fn must not queue or take the lock
    const g = await this.lock(opts);
    try {
      return await fn();
    } finally {
      g.release();
    }
  }

  /** Runs `fn` holding the lock, blocking (workers). */
  withLockSync<T>(fn: () => T, opts?: WaitOptions): T {
    callable(fn, 'Mutex.withLockSync: fn');
    const g = this.lockSync(opts);
    try {
      return fn();
    } finally {
      g.release();
    }
  }
}

