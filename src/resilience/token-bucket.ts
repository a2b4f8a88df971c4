import { TimeoutError } from '../memory/errors.js';
import type { Reopen } from '../memory/shared-object.js';
import type { WaitOptions } from '../memory/wait/index.js';
import { type GcraConfig, gcraKind } from './gcra.js';
import { GcraLimiterBase } from './gcra-limiter.js';
import { beginWait, checkInt, NO_LIMIT, nowNs, timeoutNs } from './limiter-util.js';

/** Options of a {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Most tokens the bucket holds (the burst); an integer >= 1. It starts full. */
  capacity: number;
  /** Tokens added per second, continuously; > 0. */
  refillPerSecond: number;
}

// Layout: one GCRA bucket (gcra.ts: the algorithm, and why concurrent updates are exact), a token
// costing one period of its TAT. capacity and refillPerSecond are immutable and travel in the handle.

type TokenBucketConfig = GcraConfig<'refillPerSecond'>;

// An acquire of a TokenBucket books up to tau + its timeout (at most NO_LIMIT) ahead: keep that within 2^63.
const MAX_TAU = NO_LIMIT / 2n;

const KIND = gcraKind({
  name: 'TokenBucket',
  tag: 6,
  rateName: 'refillPerSecond',
  maxTau: MAX_TAU,
  make: (r) => new TokenBucket(r),
});

/**
 * A token bucket whose state lives in shared memory: every thread that holds it draws from the same
 * tokens, lock-free, and never more than `capacity + refillPerSecond * elapsed seconds` are handed
 * out between them in any interleaving.
 *
 * Waiting acquires book their tokens at once and sleep on a timer until they are due, so waiters
 * are served in the order they asked (a large request is not starved by small ones) and nobody
 * spins. A waiter that times out or is aborted gives its booking back, unless a later one is booked behind it.
 *
 * A timer sleeps about a millisecond at least, so one caller that awaits `acquire()` call after call
 * gets about 1 000 tokens a second at most, whatever `refillPerSecond` says (1.6k/s was measured at
 * 10k/s with `capacity: 1`). For high rates, give a `capacity` of at least a few milliseconds' worth
 * of tokens, acquire several tokens at once, or wait from several callers: the rate is then met.
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket({ capacity: 10, refillPerSecond: 5 });
 * if (!bucket.tryAcquire()) throw new Error('slow down');
 * await bucket.acquire(2, { timeout: 1000 });   // waits for 2 tokens, at most 1 s
 * pool.submit({ bucket });                      // arrives in the worker as the same bucket
 * ```
 */
export class TokenBucket extends GcraLimiterBase<'refillPerSecond'> {
  constructor(options: TokenBucketOptions);
  /** @internal rebuilds over checked memory; use {@link TokenBucket.from}. */
  constructor(options: TokenBucketOptions | Reopen<TokenBucketConfig>);
  constructor(options: TokenBucketOptions | Reopen<TokenBucketConfig>) {
    super(KIND, options);
  }

  /** The live TokenBucket for what arrived from another thread (the clone of one, or its `handle`). */
  static from(received: unknown): TokenBucket {
    return KIND.open(received);
  }

  /** Tokens added per second. */
  get refillPerSecond(): number {
    return this.bucket.rate;
  }

  /** Tokens available now (fractional: the bucket refills continuously); 0 while acquires wait. */
  get available(): number {
    return Math.max(0, this.bucket.capacity - this.bucket.level());
  }

  #cost(n: number | undefined): bigint {
    return this.bucket.cost(checkInt(n ?? 1, 'token count', 1, this.bucket.capacity));
  }

  /** Takes `n` tokens (default 1) if they are there now and no acquire is waiting; returns whether it did. */
  tryAcquire(n?: number): boolean {
    return this.bucket.tryTake(n === undefined ? this.bucket.period : this.#cost(n));
  }

  /**
   * Waits until `n` tokens (default 1) are taken. A `timeout` the wait cannot meet rejects with
   * TimeoutError at once (the wait is known when the tokens are booked), booking nothing; an abort
   * rejects with AbortError and gives the booking back if no acquire booked behind it meanwhile
   * (otherwise those tokens are lost: the bucket hands out less, never more). Either way the
   * caller gets no tokens. To bound a wait, prefer the `timeout` option to a deadline signal.
   */
  async acquire(n?: number, opts?: WaitOptions): Promise<void> {
    const b = this.bucket;
    const inc = this.#cost(n);
    const signal = beginWait(opts, 'TokenBucket.acquire options');
    const t = nowNs();
    const next = b.reserve(t, inc, b.tau + timeoutNs(opts));
    if (next < 0n) {
      const needMs = Number(-next - b.tau) / 1e6;
      throw new TimeoutError(
        `TokenBucket.acquire timed out: ${n ?? 1} token(s) are ${needMs.toFixed(3)} ms away, timeout is ${opts?.timeout} ms`,
      );
    }
    await b.sleepBooked(t, next - b.tau, next, inc, signal);
  }
}

