import { InvalidArgumentError, TimeoutError } from '../memory/errors.js';
import {
  adopt,
  fromHandle,
  handleOf,
  newSharedId,
  registerSharedKind,
  type SharedHandle,
} from '../memory/handle.js';
import { checkWaitOptions, type WaitOptions } from '../memory/wait.js';
import { GcraCell } from './gcra.js';
import {
  abortError,
  checkInt,
  checkOptions,
  checkPositive,
  msToNs,
  NO_LIMIT,
  nowNs,
  sleepUntilNs,
} from './limiter-util.js';

/** Options of a {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Most tokens the bucket holds (the burst); an integer >= 1. It starts full. */
  capacity: number;
  /** Tokens added per second, continuously; > 0. */
  refillPerSecond: number;
}

// Layout: one BigInt64 slot, TAT in ns on the shared clock (see gcra.ts for the algorithm and why
// concurrent updates are exact). capacity and refillPerSecond are immutable and travel in the handle.
const TAT = 0;
const MAX_CAPACITY = 0x7fffffff;

function isOwnHandle(x: unknown): x is SharedHandle {
  return (
    typeof x === 'object' &&
    x !== null &&
    (x as SharedHandle).kind === 'TokenBucket' &&
    (x as SharedHandle).sab instanceof SharedArrayBuffer
  );
}

/**
 * A token bucket whose state lives in shared memory: every thread that holds it draws from the same
 * tokens, lock-free, and never more than `capacity + refillPerSecond * elapsed seconds` are handed
 * out between them in any interleaving.
 *
 * Waiting acquires book their tokens at once and sleep on a timer until they are due, so waiters
 * are served in the order they asked (a large request is not starved by small ones) and nobody
 * spins. A waiter that times out or is aborted gives its booking back.
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket({ capacity: 10, refillPerSecond: 5 });
 * if (!bucket.tryAcquire()) throw new Error('slow down');
 * await bucket.acquire(2, { timeout: 1000 });   // waits for 2 tokens, at most 1 s
 * pool.submit({ bucket });                      // arrives in the worker as the same bucket
 * ```
 */
export class TokenBucket {
  readonly handle: SharedHandle;
  readonly #cell: GcraCell;
  readonly #capacity: number;
  readonly #rate: number;
  /** ns of TAT one token costs, rounded up. */
  readonly #period: bigint;
  /** Burst tolerance in ns: capacity * period, rounded down. */
  readonly #tau: bigint;

  constructor(options: TokenBucketOptions);
  /** @internal rebuilds over existing memory; use {@link TokenBucket.from}. */
  constructor(options: TokenBucketOptions | SharedHandle);
  constructor(options: TokenBucketOptions | SharedHandle) {
    const own = isOwnHandle(options);
    const opts = own ? (options as unknown as TokenBucketOptions) : checkOptions(options, 'TokenBucket');
    const capacity = checkInt(opts.capacity, 'TokenBucket capacity', 1, MAX_CAPACITY);
    const rate = checkPositive(opts.refillPerSecond, 'TokenBucket refillPerSecond');
    this.#capacity = capacity;
    this.#rate = rate;
    this.#period = BigInt(Math.ceil(1e9 / rate));
    this.#tau = BigInt(Math.floor((capacity * 1e9) / rate));
    if (this.#tau >= NO_LIMIT / 2n) {
      throw new InvalidArgumentError(
        'TokenBucket capacity / refillPerSecond is too long a span (> 73 years)',
      );
    }
    this.handle = own
      ? options
      : {
          kind: 'TokenBucket',
          id: newSharedId(),
          sab: new SharedArrayBuffer(8),
          capacity,
          refillPerSecond: rate,
        };
    this.#cell = new GcraCell(new BigInt64Array(this.handle.sab), TAT);
    if (!own) adopt(this);
  }

  /** The live TokenBucket for what arrived from another thread (the clone of one, or its `handle`). */
  static from(received: unknown): TokenBucket {
    return fromHandle(handleOf(received, 'TokenBucket'), (h) => new TokenBucket(h));
  }

  /** Most tokens the bucket holds. */
  get capacity(): number {
    return this.#capacity;
  }

  /** Tokens added per second. */
  get refillPerSecond(): number {
    return this.#rate;
  }

  /** Tokens available now (fractional: the bucket refills continuously); 0 while acquires wait. */
  get available(): number {
    const backlog = this.#cell.tat - nowNs();
    if (backlog <= 0n) return this.#capacity;
    return Math.max(0, this.#capacity - (Number(backlog) * this.#rate) / 1e9);
  }

  #cost(n: number | undefined): bigint {
    const c = checkInt(n ?? 1, 'token count', 1, this.#capacity);
    return BigInt(Math.ceil((c * 1e9) / this.#rate));
  }

  /** Takes `n` tokens (default 1) if they are there now and no acquire is waiting; returns whether it did. */
  tryAcquire(n?: number): boolean {
    const inc = n === undefined ? this.#period : this.#cost(n);
    return this.#cell.reserve(nowNs(), inc, this.#tau) > 0n;
  }

  /**
   * Waits until `n` tokens (default 1) are taken. A `timeout` the wait cannot meet rejects with
   * TimeoutError at once (the wait is known when the tokens are booked); an abort rejects with
   * AbortError and gives the booking back. Either way nothing is taken.
   */
  async acquire(n?: number, opts?: WaitOptions): Promise<void> {
    const inc = this.#cost(n);
    checkWaitOptions(opts);
    const signal = opts?.signal;
    if (signal?.aborted) throw abortError(signal);
    const t = nowNs();
    const wait = opts?.timeout === undefined ? NO_LIMIT : msToNs(opts.timeout);
    const next = this.#cell.reserve(t, inc, this.#tau + wait);
    if (next < 0n) {
      const needMs = Number(-next - this.#tau) / 1e6;
      throw new TimeoutError(
        `TokenBucket.acquire timed out: ${n ?? 1} token(s) are ${needMs.toFixed(3)} ms away, timeout is ${opts?.timeout} ms`,
      );
    }
    const due = next - this.#tau;
    if (due <= t) return;
    try {
      await sleepUntilNs(due, signal);
    } catch (err) {
      this.#cell.refund(inc);
      throw err;
    }
  }
}

registerSharedKind('TokenBucket', (h) => TokenBucket.from(h));
