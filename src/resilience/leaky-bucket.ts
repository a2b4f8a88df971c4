import { TimeoutError } from '../memory/errors.js';
import type { Reopen } from '../memory/shared-object.js';
import type { WaitOptions } from '../memory/wait/index.js';
import { LeakyBucketFullError } from './errors.js';
import { type GcraConfig, gcraKind } from './gcra.js';
import { GcraLimiterBase } from './gcra-limiter.js';
import { beginWait, minBig, NO_LIMIT, nowNs, timeoutNs } from './limiter-util.js';

/** Options of a {@link LeakyBucket}. */
export interface LeakyBucketOptions {
  /** Most calls the bucket holds: the waiting line of `acquire`, the burst of `tryAcquire`; integer >= 1. */
  capacity: number;
  /** Calls let through per second: one every `1000 / leakPerSecond` ms; > 0. */
  leakPerSecond: number;
}

// Layout: one GCRA bucket (gcra.ts): its TAT, in ns on the shared clock, is the instant the bucket
// drains empty: every admitted call adds one drop (I = 1e9 / leakPerSecond ns, rounded up: the
// bucket's period) and the level now is (TAT - now) / I drops. capacity and leakPerSecond travel in
// the handle.
//
// - `acquire` books the next free slot, max(TAT, now), and sleeps until it: calls pass one every I,
//   in the order they asked. It is refused (LeakyBucketFullError) when `capacity` calls already wait,
//   i.e. when its slot would lie more than capacity * I ahead.
// - `tryAcquire` passes at once if the bucket has room for its drop (level + 1 <= capacity).
// Both book through the same lock-free CAS, so together they never pass more than
// capacity + leakPerSecond * elapsed (the proof in gcra.ts, with tau = capacity * I: an acquire
// passes at its slot, next - I >= next - tau).

type LeakyBucketConfig = GcraConfig<'leakPerSecond'>;

// An acquire of a LeakyBucket books up to min(tau, its timeout) + one drop ahead: keep that far within 2^63.
const MAX_TAU = NO_LIMIT / 4n;

const KIND = gcraKind({
  name: 'LeakyBucket',
  tag: 7,
  rateName: 'leakPerSecond',
  maxTau: MAX_TAU,
  make: (r) => new LeakyBucket(r),
});

/**
 * A leaky bucket in shared memory: calls from every thread that holds it leave at a steady rate,
 * one every `1000 / leakPerSecond` ms, however bursty they arrive. At most `capacity` calls wait; one
 * more overflows with {@link LeakyBucketFullError}. Lock-free; no thread spins while it waits.
 * A wait sleeps on a timer, about a millisecond at least: a steady rate above ~1 000/s is met only
 * by callers that wait side by side (many calls out at once), not by one caller awaiting each call.
 *
 * @example
 * ```ts
 * const bucket = new LeakyBucket({ capacity: 100, leakPerSecond: 20 });   // one call per 50 ms
 * await bucket.acquire({ timeout: 2000 });
 * await callThePaymentApi();
 * if (bucket.tryAcquire()) logSample();   // only when there is room now
 * ```
 */
export class LeakyBucket extends GcraLimiterBase<'leakPerSecond'> {
  constructor(options: LeakyBucketOptions);
  /** @internal rebuilds over checked memory; use {@link LeakyBucket.from}. */
  constructor(options: LeakyBucketOptions | Reopen<LeakyBucketConfig>);
  constructor(options: LeakyBucketOptions | Reopen<LeakyBucketConfig>) {
    super(KIND, options);
  }

  /** The live LeakyBucket for what arrived from another thread (the clone of one, or its `handle`). */
  static from(received: unknown): LeakyBucket {
    return KIND.open(received);
  }

  /** Calls let through per second. */
  get leakPerSecond(): number {
    return this.bucket.rate;
  }

  /**
   * Drops in the bucket now (fractional: it drains continuously). Waiting calls count, and so does a
   * call that passed less than one interval ago.
   */
  get level(): number {
    return this.bucket.level();
  }

  /** Passes at once if the bucket has room for one more drop; returns whether it did. */
  tryAcquire(): boolean {
    return this.bucket.tryTake(this.bucket.period);
  }

  /**
   * Waits for this call's slot in the steady outflow. Rejects at once with LeakyBucketFullError
   * when `capacity` calls already wait, or with TimeoutError when the slot lies past `timeout`
   * (then nothing is booked). An abort rejects with AbortError and gives the slot back if no call
   * booked a later slot meanwhile; otherwise the slot goes unused (lowering the booking under
   * later ones would let two calls out in one interval), so calls aborted in the order they asked
   * (each with its own `AbortSignal.timeout(ms)`) leave their slots idle. To bound a wait, prefer
   * the `timeout` option: a slot past it is never booked.
   */
  async acquire(opts?: WaitOptions): Promise<void> {
    const b = this.bucket;
    const signal = beginWait(opts, 'LeakyBucket.acquire options');
    const inc = b.period;
    const t = nowNs();
    // The booking ends one interval after the slot: room for `capacity` waiting calls means the
    // slot lies at most tau ahead, and a timeout of T means at most T.
    const roomLimit = b.tau + inc;
    const next = b.reserve(t, inc, minBig(roomLimit, timeoutNs(opts) + inc));
    if (next < 0n) {
      if (-next > roomLimit) {
        throw new LeakyBucketFullError(`LeakyBucket is full: ${b.capacity} call(s) already wait`);
      }
      const slotMs = Number(-next - inc) / 1e6;
      throw new TimeoutError(
        `LeakyBucket.acquire timed out: the next slot is ${slotMs.toFixed(3)} ms away, timeout is ${opts?.timeout} ms`,
      );
    }
    // The slot (next - inc); the bound of gcra.ts allows next - tau, never later (tau >= inc).
    await b.sleepBooked(t, next - inc, next, inc, signal);
  }
}

