/**
 * A lock-free GCRA bucket: the core of `TokenBucket` and `LeakyBucket`, all that they share.
 *
 * GCRA ("generic cell rate algorithm") keeps one number, TAT, the theoretical arrival time: the
 * instant (BigInt ns on the shared clock) at which the bucket would be empty again if nothing more
 * came. Taking `n` units costs `inc = n * period` nanoseconds of TAT:
 *
 *   base = max(TAT, t)           // an idle bucket does not bank time past full
 *   next = base + inc
 *   allowed iff next - t <= limit
 *
 * `next - t` is how far ahead of now the bucket is booked; for a token bucket with burst
 * `capacity`, admission now needs it within `tau = capacity * period`, which is exactly "there are
 * n tokens" (tokens = capacity - (base - t) / period). A waiting caller books further (a larger
 * `limit`) and proceeds at `next - tau`, when those tokens would have been there: a reservation.
 *
 * Layout: one BigInt64 slot, the whole 8-byte `sab`, holds TAT; 0 at creation means "full".
 *
 * Race-freedom: a thread reads TAT, computes `next` from it and publishes with
 * `Atomics.compareExchange(TAT, old, next)`; if another thread changed TAT in between, the CAS
 * fails and it retries from the new value. So every successful update applies `+inc` to the value
 * it read, as if the updates ran one at a time in CAS order; no update is lost or applied twice.
 *
 * Why no interleaving admits more than `capacity + rate * elapsed`: let S be the units booked and
 * not refunded. Each booking raises TAT by at least `inc` (from max(TAT, t) >= TAT) and each refund
 * lowers it by exactly `inc`, and only while no booking came after it (a CAS from its own `next`),
 * so TAT - S * period never decreases, and TAT starts at or before
 * the creation time t0: TAT >= t0 + S * period. Take the last-booked of k admitted units, booked
 * with value `next`: then next >= t0 + k * period, and it was admitted at a clock reading
 * t >= next - tau, so k <= capacity + (t - t0) / period. Periods are rounded up to whole ns and
 * tau down, so rounding only ever admits less.
 */
import { InvalidArgumentError } from '../memory/errors.js';
import type { SharedHandle } from '../memory/handle.js';
import { checkInt, checkPositive, nowNs, openShared, sleepUntilNs } from './limiter-util.js';

const TAT = 0;
const MAX_CAPACITY = 0x7fffffff;
const NS_PER_YEAR = 365.25 * 24 * 3600 * 1e9;

/** The options of a GCRA limiter: a capacity and a rate per second named `R`. */
export type GcraOptions<R extends string> = { capacity: number } & { [k in R]: number };

/**
 * How a GCRA limiter's constructor opens its bucket: new, or from a handle of `kind` (see
 * `openShared`). The handle is `{ kind, id, sab, capacity, [rateName] }`. `maxTau` bounds the
 * span `capacity / rate` so that the limiter's longest booking stays within 2^63 ns.
 */
export function openGcra<R extends string>(
  kind: string,
  rateName: R,
  options: GcraOptions<R> | SharedHandle,
  maxTau: bigint,
): { handle: SharedHandle; bucket: GcraBucket; fresh: boolean } {
  const check = (o: GcraOptions<R>): GcraOptions<R> =>
    ({
      capacity: checkInt(o.capacity, `${kind} capacity`, 1, MAX_CAPACITY),
      [rateName]: checkPositive(o[rateName], `${kind} ${rateName}`),
    }) as GcraOptions<R>;
  const { handle, config, fresh } = openShared(kind, options, check, () => ({
    sab: new SharedArrayBuffer(8),
  }));
  const bucket = new GcraBucket(
    handle.sab,
    config.capacity,
    config[rateName],
    maxTau,
    `${kind} capacity / ${rateName}`,
  );
  return { handle, bucket, fresh };
}

export class GcraBucket {
  /** Most units the bucket holds (tokens, or waiting calls). */
  readonly capacity: number;
  /** Units per second. */
  readonly rate: number;
  /** ns of TAT one unit costs, rounded up. */
  readonly period: bigint;
  /** Burst tolerance in ns: capacity * period, rounded down. */
  readonly tau: bigint;
  readonly #v: BigInt64Array;

  /**
   * Views a bucket's memory. `what` names capacity and rate in the error for a `tau` of
   * `maxTau` or more, which the caller's limits would overflow.
   */
  constructor(sab: SharedArrayBuffer, capacity: number, rate: number, maxTau: bigint, what: string) {
    this.capacity = capacity;
    this.rate = rate;
    this.period = BigInt(Math.ceil(1e9 / rate));
    this.tau = BigInt(Math.floor((capacity * 1e9) / rate));
    if (this.tau >= maxTau) {
      const years = Math.floor(Number(maxTau) / NS_PER_YEAR);
      throw new InvalidArgumentError(`${what} is too long a span (> ${years} years)`);
    }
    this.#v = new BigInt64Array(sab);
  }

  /** ns of TAT that `n` units cost, rounded up. */
  cost(n: number): bigint {
    return BigInt(Math.ceil((n * 1e9) / this.rate));
  }

  /** Units booked ahead of the clock now (fractional: the bucket drains continuously); 0 when idle. */
  level(): number {
    const backlog = Atomics.load(this.#v, TAT) - nowNs();
    return backlog <= 0n ? 0 : (Number(backlog) * this.rate) / 1e9;
  }

  /** Books `inc` ns now if the booking ends within `tau`, i.e. if there is room now; returns whether it did. */
  tryTake(inc: bigint): boolean {
    return this.reserve(nowNs(), inc, this.tau) > 0n;
  }

  /**
   * Books `inc` ns at clock reading `t` if the booking ends within `limit` ns of `t`.
   * Returns the new TAT (> 0) on success, or minus the distance `next - t` it would have needed (< 0).
   */
  reserve(t: bigint, inc: bigint, limit: bigint): bigint {
    const v = this.#v;
    let old = Atomics.load(v, TAT);
    for (;;) {
      const next = (old > t ? old : t) + inc;
      if (next - t > limit) return t - next;
      const seen = Atomics.compareExchange(v, TAT, old, next);
      if (seen === old) return next;
      old = seen;
    }
  }

  /**
   * Gives back a booking that was never used (an aborted wait), if it is still the last one: TAT
   * still equals the booking's `next`. A booking made after it was placed behind it, at times
   * computed from the higher TAT; lowering TAT under it would let the next booking take the same
   * time again (two admitted where the bucket held one). So a booking with others after it is
   * simply lost, which only ever admits less.
   */
  refund(next: bigint, inc: bigint): void {
    Atomics.compareExchange(this.#v, TAT, next, next - inc);
  }

  /**
   * A booked caller's wait: sleeps until `due` (nothing to do when it is not after the booking's
   * clock reading `t`). An aborted sleep gives the booking (`next`, `inc`) back where it can (see
   * {@link refund}) and rejects with AbortError.
   */
  async sleepBooked(t: bigint, due: bigint, next: bigint, inc: bigint, signal: AbortSignal | undefined): Promise<void> {
    if (due <= t) return;
    try {
      await sleepUntilNs(due, signal);
    } catch (err) {
      this.refund(next, inc);
      throw err;
    }
  }
}
