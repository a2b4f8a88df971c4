import { InvalidArgumentError } from '../memory/errors.js';
import { corrupt, defineSharedKind, isReopen, type Reopen, SharedObjectBase } from '../memory/shared-object.js';
import { object } from '../memory/validate.js';
import {
  blockUntil,
  checkWaitOptions,
  limitsOf,
  notifyAll,
  type WaitOptions,
  type WaitWord,
  waitUntil,
  WORD_SLOTS,
  wordAt,
} from '../memory/wait/index.js';
import { WaitGroupNegativeError } from './errors.js';

// Layout (Int32): 0 COUNT outstanding; 1..4 ZERO, the wait word (memory/wait/word.ts) waiters sleep on.
// COUNT changes only by a compare-exchange from the value the change was checked against, so
// concurrent add/done never lose an update and COUNT never holds a value that no valid order of
// them could give (an add-then-undo would: a transient negative makes a valid done() fail, and a
// transient zero wakes waiters while work is outstanding). The thread that takes it to zero wakes
// the waiters, who re-check COUNT.
const COUNT = 0;
const ZERO = 1;
const BYTES = (ZERO + WORD_SLOTS) * 4;
const MAX_COUNT = 0x7fffffff;

/** A WaitGroup's handle carries no configuration. */
type WaitGroupConfig = Record<string, never>;

const WAIT_GROUP = defineSharedKind<WaitGroupConfig, WaitGroup>({
  name: 'WaitGroup',
  tag: 3,
  layout: 1,
  checkConfig: (c) => (object(c, 'config'), {}),
  bodyBytes: () => BYTES,
  // COUNT is never negative (every change is a CAS from a checked value).
  checkBody: (sab) => {
    if (new Int32Array(sab, 0, 1)[COUNT] < 0) throw corrupt('WaitGroup', 'its count is negative');
  },
  make: (r) => new WaitGroup(r),
});

/**
 * Go's WaitGroup over shared memory: `add(n)` before starting work, `done()` when a piece ends,
 * `wait()` until the count is back to zero — from any thread.
 *
 * @example
 * ```ts
 * const wg = new WaitGroup();
 * wg.add(4);
 * for (let i = 0; i < 4; i++) pool.submit({ wg });   // each worker calls wg.done()
 * await wg.wait({ timeout: 5000 });
 * ```
 */
export class WaitGroup extends SharedObjectBase<WaitGroupConfig> {
  readonly #v: Int32Array;
  readonly #zeroWord: WaitWord<'WaitGroup.zero'>;

  constructor();
  /** @internal rebuilds over checked memory; use {@link WaitGroup.from}. */
  constructor(reopen?: Reopen<WaitGroupConfig>);
  constructor(reopen?: Reopen<WaitGroupConfig>) {
    super(WAIT_GROUP, isReopen(reopen) ? reopen : {});
    this.#v = new Int32Array(this.handle.sab, 0, BYTES / 4);
    this.#zeroWord = wordAt(this.#v, ZERO);
  }

  /** The live WaitGroup for what arrived from another thread. */
  static from(received: unknown): WaitGroup {
    return WAIT_GROUP.open(received);
  }

  /** Outstanding count. */
  get count(): number {
    return Atomics.load(this.#v, COUNT);
  }

  /**
   * Adds `n` (may be negative) to the count; throws WaitGroupNegativeError below zero and
   * InvalidArgumentError past 2^31 - 1, changing nothing in either case.
   */
  add(n = 1): void {
    if (!Number.isInteger(n) || Math.abs(n) > MAX_COUNT)
      throw new InvalidArgumentError(`WaitGroup.add needs an int32 integer, got ${String(n)}`);
    const v = this.#v;
    for (;;) {
      const cur = Atomics.load(v, COUNT);
      const after = cur + n;
      if (after < 0) throw new WaitGroupNegativeError(`WaitGroup count would fall to ${after}`);
      if (after > MAX_COUNT) throw new InvalidArgumentError(`WaitGroup count would pass ${MAX_COUNT}`);
      if (Atomics.compareExchange(v, COUNT, cur, after) !== cur) continue;
      if (after === 0 && n !== 0) notifyAll(this.#zeroWord);
      return;
    }
  }

  /** One piece of work is done: `add(-1)`. */
  done(): void {
    this.add(-1);
  }

  #zero = (): true | undefined => (Atomics.load(this.#v, COUNT) === 0 ? true : undefined);

  /** Resolves when the count is zero. */
  async wait(opts?: WaitOptions): Promise<void> {
    checkWaitOptions(opts);
    await waitUntil(this.#zeroWord, this.#zero, limitsOf(opts, 'WaitGroup.wait'));
  }

  /** Blocks (workers) until the count is zero. */
  waitSync(opts?: WaitOptions): void {
    checkWaitOptions(opts);
    blockUntil(this.#zeroWord, this.#zero, limitsOf(opts, 'WaitGroup.waitSync'));
  }
}

