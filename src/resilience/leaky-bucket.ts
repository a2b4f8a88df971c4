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
import { LeakyBucketFullError } from './errors.js';
import { GcraCell } from './gcra.js';
import {
  abortError,
  checkInt,
  checkOptions,
  checkPositive,
  maxBig,
  minBig,
  msToNs,
  NO_LIMIT,
  nowNs,
  sleepUntilNs,
} from './limiter-util.js';

/** Options of a {@link LeakyBucket}. */
export interface LeakyBucketOptions {
  /** Most calls the bucket holds: the waiting line of `acquire`, the burst of `tryAcquire`; integer >= 1. */
  capacity: number;
  /** Calls let through per second: one every `1000 / leakPerSecond` ms; > 0. */
  leakPerSecond: number;
}

// Layout: one BigInt64 slot, TAT in ns on the shared clock (see gcra.ts). Here TAT is the instant
// the bucket drains empty: every admitted call adds one drop (I = 1e9 / leakPerSecond ns, rounded
// up) and the level now is (TAT - now) / I drops. capacity and leakPerSecond travel in the handle.
//
// - `acquire` books the next free slot, max(TAT, now), and sleeps until it: calls pass one every I,
//   in the order they asked. It is refused (LeakyBucketFullError) when `capacity` calls already wait,
//   i.e. when its slot would lie more than capacity * I ahead.
// - `tryAcquire` passes at once if the bucket has room for its drop (level + 1 <= capacity).
// Both book through the same lock-free CAS, so together they never pass more than
// capacity + leakPerSecond * elapsed (the proof in gcra.ts, with tau = capacity * I: an acquire
// passes at its slot, next - I >= next - tau).
const TAT = 0;
const MAX_CAPACITY = 0x7fffffff;

function isOwnHandle(x: unknown): x is SharedHandle {
  return (
    typeof x === 'object' &&
    x !== null &&
    (x as SharedHandle).kind === 'LeakyBucket' &&
    (x as SharedHandle).sab instanceof SharedArrayBuffer
  );
}

/**
 * A leaky bucket in shared memory: calls from every thread that holds it leave at a steady rate,
 * one every `1000 / leakPerSecond` ms, however bursty they arrive. At most `capacity` calls wait; one
 * more overflows with {@link LeakyBucketFullError}. Lock-free; no thread spins while it waits.
 *
 * @example
 * ```ts
 * const bucket = new LeakyBucket({ capacity: 100, leakPerSecond: 20 });   // one call per 50 ms
 * await bucket.acquire({ timeout: 2000 });
 * await callThePaymentApi();
 * if (bucket.tryAcquire()) logSample();   // only when there is room now
 * ```
 */
export class LeakyBucket {
  readonly handle: SharedHandle;
  readonly #cell: GcraCell;
  readonly #capacity: number;
  readonly #rate: number;
  /** ns between two calls (one drop), rounded up. */
  readonly #interval: bigint;
  /** capacity drops in ns, rounded down. */
  readonly #tau: bigint;

  constructor(options: LeakyBucketOptions);
  /** @internal rebuilds over existing memory; use {@link LeakyBucket.from}. */
  constructor(options: LeakyBucketOptions | SharedHandle);
  constructor(options: LeakyBucketOptions | SharedHandle) {
    const own = isOwnHandle(options);
    const opts = own ? (options as unknown as LeakyBucketOptions) : checkOptions(options, 'LeakyBucket');
    const capacity = checkInt(opts.capacity, 'LeakyBucket capacity', 1, MAX_CAPACITY);
    const rate = checkPositive(opts.leakPerSecond, 'LeakyBucket leakPerSecond');
    this.#capacity = capacity;
    this.#rate = rate;
    this.#interval = BigInt(Math.ceil(1e9 / rate));
    this.#tau = BigInt(Math.floor((capacity * 1e9) / rate));
    if (this.#tau >= NO_LIMIT / 4n) {
      throw new InvalidArgumentError('LeakyBucket capacity / leakPerSecond is too long a span (> 36 years)');
    }
    this.handle = own
      ? options
      : {
          kind: 'LeakyBucket',
          id: newSharedId(),
          sab: new SharedArrayBuffer(8),
          capacity,
          leakPerSecond: rate,
        };
    this.#cell = new GcraCell(new BigInt64Array(this.handle.sab), TAT);
    if (!own) adopt(this);
  }

  /** The live LeakyBucket for what arrived from another thread (the clone of one, or its `handle`). */
  static from(received: unknown): LeakyBucket {
    return fromHandle(handleOf(received, 'LeakyBucket'), (h) => new LeakyBucket(h));
  }

  /** Most calls the bucket holds. */
  get capacity(): number {
    return this.#capacity;
  }

  /** Calls let through per second. */
  get leakPerSecond(): number {
    return this.#rate;
  }

  /**
   * Drops in the bucket now (fractional: it drains continuously). Waiting calls count, and so does a
   * call that passed less than one interval ago.
   */
  get level(): number {
    const backlog = this.#cell.tat - nowNs();
    return backlog <= 0n ? 0 : (Number(backlog) * this.#rate) / 1e9;
  }

  /** Passes at once if the bucket has room for one more drop; returns whether it did. */
  tryAcquire(): boolean {
    return this.#cell.reserve(nowNs(), this.#interval, this.#tau) > 0n;
  }

  /**
   * Waits for this call's slot in the steady outflow. Rejects at once with LeakyBucketFullError
   * when `capacity` calls already wait, or with TimeoutError when the slot lies past `timeout`;
   * an abort rejects with AbortError and gives the slot back. A refused call takes nothing.
   */
  async acquire(opts?: WaitOptions): Promise<void> {
    checkWaitOptions(opts);
    const signal = opts?.signal;
    if (signal?.aborted) throw abortError(signal);
    const inc = this.#interval;
    const t = nowNs();
    // The booking ends one interval after the slot: room for `capacity` waiting calls means the
    // slot lies at most tau ahead, and a timeout of T means at most T.
    const roomLimit = this.#tau + inc;
    const timeLimit = opts?.timeout === undefined ? NO_LIMIT : msToNs(opts.timeout) + inc;
    const next = this.#cell.reserve(t, inc, minBig(roomLimit, timeLimit));
    if (next < 0n) {
      if (-next > roomLimit) {
        throw new LeakyBucketFullError(`LeakyBucket is full: ${this.#capacity} call(s) already wait`);
      }
      const slotMs = Number(-next - inc) / 1e6;
      throw new TimeoutError(
        `LeakyBucket.acquire timed out: the next slot is ${slotMs.toFixed(3)} ms away, timeout is ${opts?.timeout} ms`,
      );
    }
    // The slot (next - inc), but never before the bound of gcra.ts allows (next - tau; only later
    // for capacity 1, by under 1 ns of rounding).
    const due = maxBig(next - inc, next - this.#tau);
    if (due <= t) return;
    try {
      await sleepUntilNs(due, signal);
    } catch (err) {
      this.#cell.refund(inc);
      throw err;
    }
  }
}

registerSharedKind('LeakyBucket', (h) => LeakyBucket.from(h));
