import { InvalidArgumentError } from '../memory/errors.js';
import { describeValue } from '../memory/validate.js';
import type { NoConfig, Reopen } from '../memory/shared-object.js';
import { blockUntil, checkWaitOptions, limitsOf, notifyAll, type WaitOptions, waitUntil } from '../memory/wait/index.js';
import { defineWordKind, WordObjectBase } from '../memory/word-object.js';
import { WaitGroupNegativeError } from './errors.js';

// Layout (Int32): 0 COUNT outstanding; 1..4 ZERO, the wait word (memory/wait/word.ts) waiters sleep on.
// COUNT changes only by a compare-exchange from the value the change was checked against, so
// concurrent add/done never lose an update and COUNT never holds a value that no valid order of
// them could give (an add-then-undo would: a transient negative makes a valid done() fail, and a
// transient zero wakes waiters while work is outstanding). The thread that takes it to zero wakes
// the waiters, who re-check COUNT.
const COUNT = 0;
const ZERO = 1;
const MAX_COUNT = 0x7fffffff;

const WAIT_GROUP = defineWordKind<NoConfig, WaitGroup>({
  name: 'WaitGroup',
  tag: 3,
  layout: 1,
  stateWords: ZERO,
  // COUNT is never negative (every change is a CAS from a checked value).
  damage: (v) => (v[COUNT] < 0 ? 'its count is negative' : undefined),
  make: (r) => new WaitGroup(r),
});

/**
 * Go's WaitGroup over shared memory: `add(n)` before starting work, `done()` when a piece ends,
 * `wait()` until the count is back to zero — from any thread. As in Go, a group may be used again,
 * but an `add()` that starts a new round must come after the waits of the last round have
 * returned: a waiter still waking when the count leaves zero again may miss that zero and wait on.
 *
 * @example
 * ```ts
 * const wg = new WaitGroup();
 * wg.add(4);
 * for (let i = 0; i < 4; i++) pool.submit({ wg });   // each worker calls wg.done()
 * await wg.wait({ timeout: 5000 });
 * ```
 */
export class WaitGroup extends WordObjectBase<NoConfig, 'WaitGroup.zero'> {
  constructor();
  /** @internal rebuilds over checked memory; use {@link WaitGroup.from}. */
  constructor(reopen?: Reopen<NoConfig>);
  constructor(reopen?: Reopen<NoConfig>) {
    super(WAIT_GROUP, reopen);
  }

  /** The live WaitGroup for what arrived from another thread. */
  static from(received: unknown): WaitGroup {
    return WAIT_GROUP.open(received);
  }

  /** Outstanding count. */
  get count(): number {
    return Atomics.load(this.v, COUNT);
  }

  /**
   * Adds `n` (may be negative) to the count; throws WaitGroupNegativeError below zero and
   * InvalidArgumentError past 2^31 - 1, changing nothing in either case.
   */
  add(n = 1): void {
    if (!Number.isInteger(n) || Math.abs(n) > MAX_COUNT)
      throw new InvalidArgumentError(`WaitGroup.add needs an int32 integer, got ${describeValue(n)}`);
    const v = this.v;
    for (;;) {
      const cur = Atomics.load(v, COUNT);
      const after = cur + n;
      if (after < 0) throw new WaitGroupNegativeError(`WaitGroup count would fall to ${after}`);
      if (after > MAX_COUNT) throw new InvalidArgumentError(`WaitGroup count would pass ${MAX_COUNT}`);
      if (Atomics.compareExchange(v, COUNT, cur, after) !== cur) continue;
      if (after === 0 && n !== 0) notifyAll(this.word);
      return;
    }
  }

  /** One piece of work is done: `add(-1)`. */
  done(): void {
    this.add(-1);
  }

  #zero = (): true | undefined => (Atomics.load(this.v, COUNT) === 0 ? true : undefined);

  /** Resolves when the count is zero. */
  async wait(opts?: WaitOptions): Promise<void> {
    checkWaitOptions(opts, 'WaitGroup.wait options');
    await waitUntil(this.word, this.#zero, limitsOf(opts, 'WaitGroup.wait'));
  }

  /** Blocks (workers) until the count is zero. */
  waitSync(opts?: WaitOptions): void {
    checkWaitOptions(opts, 'WaitGroup.waitSync options');
    blockUntil(this.word, this.#zero, limitsOf(opts, 'WaitGroup.waitSync'));
  }
}

