import type { NoConfig, Reopen } from '../memory/shared-object.js';
import { now } from '../memory/clock.js';
import { callable } from '../memory/validate.js';
import { blockUntil, checkAborted, checkWaitOptions, limitsOf, notifyAll, type WaitOptions, waitUntil } from '../memory/wait/index.js';
import { defineWordKind, WordObjectBase } from '../memory/word-object.js';
import { Guard } from './guard.js';

// Layout (Int32):
//   0 STATE     readers holding the lock (>= 0), or WRITER (-1) while a writer holds it
//   1 WRITERS   writers waiting; while > 0 (and BEAT is fresh) no new reader enters
//   2 BEAT      when a waiting writer last looked at the lock (ms on memory/clock.ts `now`, as int32)
//   3..  CHANGED  the wait word (memory/wait/word.ts) every waiter sleeps on
//
// Invariants (cited as R1..R5):
//   R1. STATE changes only by compare-exchange from a value the change was checked against: a
//       reader enters by STATE s -> s + 1 only from s >= 0, a writer by 0 -> WRITER; so a writer
//       never holds the lock with a reader, nor two writers together.
//   R2. A reader enters only while WRITERS reads 0 or BEAT is stale (R5) (checked before its CAS).
//       A writer that is already waiting has counted itself in WRITERS first, so once it waits the
//       readers drain.
//   R3. Every change that can let a waiter in is followed by notifyAll(CHANGED): the last reader
//       leaving (STATE -> 0), a writer leaving (WRITER -> 0), and a waiting writer giving up that
//       takes WRITERS to 0 (readers held back by R2 may enter). Waiters re-check after every wake-up
//       (word.ts invariant 3: no wake-up is lost).
//   R4. WRITERS is incremented once by each write()/writeSync() before it waits and decremented
//       once when it stops waiting (acquired, timed out or aborted), in a finally.
//   R5. A writer terminated while it waits (worker.terminate(), a crash, out of memory) never runs
//       that finally: WRITERS stays raised for good. So a waiting writer stores BEAT before it
//       counts itself (a reader that sees its count sees its beat) and again at each look, at least
//       every WRITER_LOOK_MS; a waiting reader looks again every READER_LOOK_MS (whatever holds it
//       back: one poll period for all its waits), and once BEAT is older than STALE_MS it takes the
//       waiting writers for gone and enters if STATE lets it. A
//       live writer whose thread stalls longer (a blocked event loop) only loses its preference
//       until it looks again.
const STATE = 0;
const WRITERS = 1;
const BEAT = 2;
const CHANGED = 3;
const WRITER = -1;
/** How often a waiting writer looks at the lock (and beats), and when readers take its beat for stale (R5). */
const WRITER_LOOK_MS = 50;
const READER_LOOK_MS = 100;
const STALE_MS = 500;

/** The shared clock as int32 milliseconds; differences are taken modulo 2^32 (R5). */
const beatNow = (): number => Math.floor(now()) | 0;

const RW_LOCK = defineWordKind<NoConfig, RwLock>({
  name: 'RwLock',
  tag: 10,
  layout: 2,
  stateWords: CHANGED,
  damage: (v) =>
    v[STATE] < WRITER
      ? `its state is ${v[STATE]}`
      : v[WRITERS] < 0
        ? `it counts ${v[WRITERS]} waiting writers`
        : undefined,
  make: (r) => new RwLock(r),
});

/**
 * A readers-writer lock in shared memory: any number of readers together, or one writer alone,
 * from any thread. Writers are preferred: once a writer waits, new readers wait behind it, so a
 * stream of readers cannot starve it. Not reentrant (a thread that reads and then asks to read
 * again while a writer waits deadlocks, as with any writer-preferring lock).
 *
 * @example
 * ```ts
 * const lock = new RwLock();
 * {
 *   using _ = await lock.read();
 *   total = table.reduce(...);      // many readers at once
 * }
 * const g = lock.writeSync();      // in a worker
 * try { table[i] = v; } finally { g.release(); }
 * ```
 */
export class RwLock extends WordObjectBase<NoConfig, 'RwLock.changed'> {
  constructor();
  /** @internal rebuilds over checked memory; use {@link RwLock.from}. */
  constructor(reopen?: Reopen<NoConfig>);
  constructor(reopen?: Reopen<NoConfig>) {
    super(RW_LOCK, reopen);
  }

  /** The live RwLock for what arrived from another thread. */
  static from(received: unknown): RwLock {
    return RW_LOCK.open(received);
  }

  /** Readers holding the lock now. */
  get readers(): number {
    return Math.max(0, Atomics.load(this.v, STATE));
  }

  /** Whether a writer holds the lock now. */
  get writeLocked(): boolean {
    return Atomics.load(this.v, STATE) === WRITER;
  }

  // One attempt each (R1, R2); undefined means "not now".
  #enterRead = (): Guard | undefined => {
    const v = this.v;
    for (;;) {
      if (Atomics.load(v, WRITERS) > 0 && ((beatNow() - Atomics.load(v, BEAT)) | 0) <= STALE_MS) return undefined; // R2, R5
      const s = Atomics.load(v, STATE);
      if (s < 0) return undefined;
      if (Atomics.compareExchange(v, STATE, s, s + 1) === s) return new Guard(() => this.#leaveRead());
    }
  };

  #enterWrite = (): Guard | undefined =>
    Atomics.compareExchange(this.v, STATE, 0, WRITER) === 0 ? new Guard(() => this.#leaveWrite()) : undefined;

  /** A waiting writer's attempt: it beats first (R5). */
  #waitingWrite = (): Guard | undefined => {
    Atomics.store(this.v, BEAT, beatNow());
    return this.#enterWrite();
  };

  /** R4, R5: beat, then count this writer in as waiting. */
  #startWaitingToWrite(): void {
    Atomics.store(this.v, BEAT, beatNow());
    Atomics.add(this.v, WRITERS, 1);
  }

  #leaveRead(): void {
    if (Atomics.sub(this.v, STATE, 1) === 1) notifyAll(this.word); // R3: the last reader left
  }

  #leaveWrite(): void {
    Atomics.store(this.v, STATE, 0);
    notifyAll(this.word); // R3
  }

  #stopWaitingToWrite(): void {
    if (Atomics.sub(this.v, WRITERS, 1) === 1) notifyAll(this.word); // R3, R4
  }

  /** Takes a read lock if no writer holds or waits for the lock; `undefined` otherwise. */
  tryRead(): Guard | undefined {
    return this.#enterRead();
  }

  /** Takes the write lock if the lock is free; `undefined` otherwise. */
  tryWrite(): Guard | undefined {
    return this.#enterWrite();
  }

  /** Waits for a read lock. Rejects with TimeoutError or AbortError without holding it. */
  async read(opts?: WaitOptions): Promise<Guard> {
    checkWaitOptions(opts, 'RwLock.read options');
    return waitUntil(this.word, this.#enterRead, limitsOf(opts, 'RwLock.read'), undefined, READER_LOOK_MS);
  }

  /** Blocking form of {@link read}, for worker threads. */
  readSync(opts?: WaitOptions): Guard {
    checkWaitOptions(opts, 'RwLock.readSync options');
    return blockUntil(this.word, this.#enterRead, limitsOf(opts, 'RwLock.readSync'), READER_LOOK_MS);
  }

  /** Waits for the write lock. Rejects with TimeoutError or AbortError without holding it. */
  async write(opts?: WaitOptions): Promise<Guard> {
    checkWaitOptions(opts, 'RwLock.write options');
    checkAborted(opts); // as read() and every other wait: an aborted call takes nothing
    const fast = this.#enterWrite();
    if (fast) return fast;
    this.#startWaitingToWrite();
    try {
      return await waitUntil(this.word, this.#waitingWrite, limitsOf(opts, 'RwLock.write'), undefined, WRITER_LOOK_MS);
    } finally {
      this.#stopWaitingToWrite();
    }
  }

  /** Blocking form of {@link write}, for worker threads. */
  writeSync(opts?: WaitOptions): Guard {
    checkWaitOptions(opts, 'RwLock.writeSync options');
    checkAborted(opts); // as read() and every other wait: an aborted call takes nothing
    const fast = this.#enterWrite();
    if (fast) return fast;
    this.#startWaitingToWrite();
    try {
      return blockUntil(this.word, this.#waitingWrite, limitsOf(opts, 'RwLock.writeSync'), WRITER_LOOK_MS);
    } finally {
      this.#stopWaitingToWrite();
    }
  }

  /** Runs `fn` holding a read lock. */
  async withRead<T>(fn: () => T | Promise<T>, opts?: WaitOptions): Promise<T> {
    callable(fn, 'RwLock.withRead: fn'); // before waiting: a bad fn must not queue or take the lock
    const g = await this.read(opts);
    try {
      return await fn();
    } finally {
      g.release();
    }
  }

  /** Runs `fn` holding the write lock. */
  async withWrite<T>(fn: () => T | Promise<T>, opts?: WaitOptions): Promise<T> {
    callable(fn, 'RwLock.withWrite: fn');
    const g = await this.write(opts);
    try {
      return await fn();
    } finally {
      g.release();
    }
  }
}
