import type { NoConfig, Reopen } from '../memory/shared-object.js';
import { callable } from '../memory/validate.js';
import { blockUntil, checkWaitOptions, limitsOf, notifyAll, type WaitOptions, waitUntil } from '../memory/wait/index.js';
import { defineWordKind, WordObjectBase } from '../memory/word-object.js';

// Layout (Int32):
//   0 STATE    NEW (nobody ran it yet, or a run failed), RUNNING (one caller runs fn), DONE
//   1..4 SETTLED  the wait word (memory/wait/word.ts) callers sleep on while it runs
//
// Invariants (cited as O1..O3):
//   O1. Only the caller whose CAS moves STATE NEW -> RUNNING runs fn; so at most one fn runs at a
//       time, in all threads together.
//   O2. STATE leaves RUNNING only by its runner: to DONE when fn succeeded (for good), back to NEW
//       when fn threw (the next caller tries again); the runner notifies SETTLED after either.
//   O3. A waiting caller re-checks after every wake-up: DONE -> it returns; NEW -> it tries O1.
//       (A runner that dies mid-run, its thread terminated, leaves RUNNING: waiters wait for their
//       timeout. Keep such fns out of threads that may be killed, or give waits a timeout.)
const STATE = 0;
const SETTLED = 1;
const NEW = 0;
const RUNNING = 1;
const DONE = 2;

const ONCE = defineWordKind<NoConfig, Once>({
  name: 'Once',
  tag: 12,
  layout: 1,
  stateWords: SETTLED,
  damage: (v) => {
    const s = v[STATE];
    return s !== NEW && s !== RUNNING && s !== DONE ? `its state is ${s}` : undefined;
  },
  make: (r) => new Once(r),
});

/**
 * Runs a function once across all threads (Go's `sync.Once`, shared): the first caller of `do`
 * runs it, callers meanwhile wait until it finished, later callers return at once. If it throws,
 * that caller gets the error and the next caller runs it again.
 *
 * @example
 * ```ts
 * const init = new Once();                                  // passed to every worker
 * await init.do(async () => { table.set(await load()); });  // true if this call ran it
 * init.doSync(() => table.set(loadSync()));                 // in a worker, blocking: false if it ran
 * ```
 */
export class Once extends WordObjectBase<NoConfig, 'Once.settled'> {
  constructor();
  /** @internal rebuilds over checked memory; use {@link Once.from}. */
  constructor(reopen?: Reopen<NoConfig>);
  constructor(reopen?: Reopen<NoConfig>) {
    super(ONCE, reopen);
  }

  /** The live Once for what arrived from another thread. */
  static from(received: unknown): Once {
    return ONCE.open(received);
  }

  /** Whether the function has run to completion (in any thread). */
  get done(): boolean {
    return Atomics.load(this.v, STATE) === DONE;
  }

  // O3: 'done' when finished, 'mine' when this caller won the run (O1), undefined to wait.
  #look = (): 'done' | 'mine' | undefined => {
    const s = Atomics.load(this.v, STATE);
    if (s === DONE) return 'done';
    if (s === NEW && Atomics.compareExchange(this.v, STATE, NEW, RUNNING) === NEW) return 'mine';
    return undefined;
  };

  #settle(ok: boolean): void {
    Atomics.store(this.v, STATE, ok ? DONE : NEW); // O2
    notifyAll(this.word);
  }

  /**
   * Runs `fn` unless it has run (here or in another thread); resolves to true if this call ran it.
   * Rejects with fn's error (and leaves it to run again), TimeoutError or AbortError.
   */
  async do(fn: () => unknown, opts?: WaitOptions): Promise<boolean> {
    checkWaitOptions(opts, 'Once.do options');
    callable(fn, 'fn');
    const r = await waitUntil(this.word, this.#look, limitsOf(opts, 'Once.do'));
    if (r === 'done') return false;
    try {
      await fn();
    } catch (err) {
      this.#settle(false);
      throw err;
    }
    this.#settle(true);
    return true;
  }

  /** Blocking form of {@link do}, for worker threads (`fn` must be synchronous). */
  doSync(fn: () => unknown, opts?: WaitOptions): boolean {
    checkWaitOptions(opts, 'Once.doSync options');
    callable(fn, 'fn');
    const r = blockUntil(this.word, this.#look, limitsOf(opts, 'Once.doSync'));
    if (r === 'done') return false;
    try {
      fn();
    } catch (err) {
      this.#settle(false);
      throw err;
    }
    this.#settle(true);
    return true;
  }
}
