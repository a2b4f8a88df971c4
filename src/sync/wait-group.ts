import { InvalidArgumentError } from '../memory/errors.js';
import {
  adopt,
  fromHandle,
  handleOf,
  newSharedId,
  registerSharedKind,
  type SharedHandle,
} from '../memory/handle.js';
import { blockUntil, checkWaitOptions, type WaitOptions, waitUntil, wake } from '../memory/wait.js';
import { WaitGroupNegativeError } from './errors.js';

// Layout (Int32): 0 COUNT outstanding; 1 SEQ, 2 SLEEPERS (wait word, see wait.ts).
// COUNT changes by Atomics.add, so concurrent add/done never lose an update; the thread that takes
// it to zero wakes the waiters, who re-check COUNT.
const COUNT = 0;
const SEQ = 1;
const BYTES = 12;

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
export class WaitGroup {
  readonly handle: SharedHandle;
  readonly #v: Int32Array;

  constructor(handle?: SharedHandle) {
    this.handle = handle ?? { kind: 'WaitGroup', id: newSharedId(), sab: new SharedArrayBuffer(BYTES) };
    if (this.handle.sab.byteLength !== BYTES) {
      throw new InvalidArgumentError(
        `a WaitGroup handle needs ${BYTES} bytes of memory, got ${this.handle.sab.byteLength}`,
      );
    }
    this.#v = new Int32Array(this.handle.sab);
    if (!handle) adopt(this);
  }

  /** The live WaitGroup for what arrived from another thread. */
  static from(received: unknown): WaitGroup {
    return fromHandle(handleOf(received, 'WaitGroup'), (h) => new WaitGroup(h));
  }

  /** Outstanding count. */
  get count(): number {
    return Atomics.load(this.#v, COUNT);
  }

  /** Adds `n` (may be negative) to the count; throws WaitGroupNegativeError below zero. */
  add(n = 1): void {
    if (!Number.isInteger(n))
      throw new InvalidArgumentError(`WaitGroup.add needs an integer, got ${String(n)}`);
    const after = Atomics.add(this.#v, COUNT, n) + n;
    if (after < 0) {
      Atomics.sub(this.#v, COUNT, n);
      throw new WaitGroupNegativeError(`WaitGroup count would fall to ${after}`);
    }
    if (after === 0) wake(this.#v, SEQ);
  }

  /** One piece of work is done: `add(-1)`. */
  done(): void {
    this.add(-1);
  }

  #zero = (): true | undefined => (Atomics.load(this.#v, COUNT) === 0 ? true : undefined);

  /** Resolves when the count is zero. */
  async wait(opts?: WaitOptions): Promise<void> {
    checkWaitOptions(opts);
    await waitUntil(this.#v, SEQ, this.#zero, opts, 'WaitGroup.wait');
  }

  /** Blocks (workers) until the count is zero. */
  waitSync(opts?: WaitOptions): void {
    checkWaitOptions(opts);
    blockUntil(this.#v, SEQ, this.#zero, opts, 'WaitGroup.waitSync');
  }
}

registerSharedKind('WaitGroup', (h) => WaitGroup.from(h));
