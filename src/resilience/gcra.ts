/**
 * A lock-free GCRA cell: the core of `TokenBucket` and `LeakyBucket`.
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
 * Layout: one BigInt64 slot (the caller's `at`) holds TAT; 0 at creation means "full".
 *
 * Race-freedom: a thread reads TAT, computes `next` from it and publishes with
 * `Atomics.compareExchange(TAT, old, next)`; if another thread changed TAT in between, the CAS
 * fails and it retries from the new value. So every successful update applies `+inc` to the value
 * it read, as if the updates ran one at a time in CAS order; no update is lost or applied twice.
 *
 * Why no interleaving admits more than `capacity + rate * elapsed`: let S be the units booked and
 * not refunded. Each booking raises TAT by at least `inc` (from max(TAT, t) >= TAT) and each refund
 * lowers it by exactly `inc`, so TAT - S * period never decreases, and TAT starts at or before
 * the creation time t0: TAT >= t0 + S * period. Take the last-booked of k admitted units, booked
 * with value `next`: then next >= t0 + k * period, and it was admitted at a clock reading
 * t >= next - tau, so k <= capacity + (t - t0) / period. Periods are rounded up to whole ns and
 * tau down, so rounding only ever admits less.
 */

export class GcraCell {
  readonly #v: BigInt64Array;
  readonly #at: number;

  constructor(v: BigInt64Array, at: number) {
    this.#v = v;
    this.#at = at;
  }

  /** TAT now (0 = never used). */
  get tat(): bigint {
    return Atomics.load(this.#v, this.#at);
  }

  /**
   * Books `inc` ns at clock reading `t` if the booking ends within `limit` ns of `t`.
   * Returns the new TAT (> 0) on success, or minus the distance `next - t` it would have needed (< 0).
   */
  reserve(t: bigint, inc: bigint, limit: bigint): bigint {
    const v = this.#v;
    const at = this.#at;
    let old = Atomics.load(v, at);
    for (;;) {
      const next = (old > t ? old : t) + inc;
      if (next - t > limit) return t - next;
      const seen = Atomics.compareExchange(v, at, old, next);
      if (seen === old) return next;
      old = seen;
    }
  }

  /** Gives back a booking of `inc` ns that was never used (an aborted wait). */
  refund(inc: bigint): void {
    const v = this.#v;
    const at = this.#at;
    let old = Atomics.load(v, at);
    for (;;) {
      const seen = Atomics.compareExchange(v, at, old, old - inc);
      if (seen === old) return;
      old = seen;
    }
  }
}
