/**
 * A lock-free GCRA bucket: the core of `TokenBucket` and `LeakyBucket` (their common class is
 * gcra-limiter.ts).
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
 * t >= next - tau, so k <= capacity + (t - t0) / period. The period is rounded up to whole ns
 * (so rounding only ever admits less), and every amount is counted in whole periods: `n` units
 * cost `n * period` and `tau = capacity * period`. Rounding `n * 1e9 / rate` and
 * `capacity * 1e9 / rate` each on its own made a full bucket refuse `capacity` units (the cost
 * rounded up past the burst rounded down, e.g. capacity 10 at 3 per second).
 */
import { InvalidArgumentError } from '../memory/errors.js';
import type { SharedObject } from '../memory/handle.js';
import { defineSharedKind, type Reopen, type SharedKind } from '../memory/shared-object.js';
import { integer, object, onlyKeys, positive } from '../memory/validate.js';
import { nowNs, sleepUntilNs } from './limiter-util.js';

const TAT = 0;
const MAX_CAPACITY = 0x7fffffff;
const NS_PER_YEAR = 365.25 * 24 * 3600 * 1e9;

/** The options of a GCRA limiter: a capacity and a rate per second named `R`. */
export type GcraOptions<R extends string> = { capacity: number } & { [k in R]: number };

/** What a GCRA limiter's handle carries besides its memory: `{ capacity, [rateName] }`. */
export type GcraConfig<R extends string> = Readonly<GcraOptions<R>>;

/** What a GCRA limiter says about its kind, for {@link gcraKind}. */
export interface GcraKindSpec<R extends string, T extends SharedObject> {
  readonly name: string;
  readonly tag: number;
  readonly rateName: R;
  /** Bound on `capacity / rate` in ns, so that the limiter's longest booking stays within 2^63. */
  readonly maxTau: bigint;
  readonly make: (r: Reopen<GcraConfig<R>>) => T;
}

/** The kind of a GCRA limiter: a shared kind that also names its rate option. */
export type GcraKind<R extends string, T extends SharedObject> = SharedKind<GcraConfig<R>, T> & { readonly rateName: R };

/** Checks a GCRA limiter's options (the user's, or a handle's config): named errors at the call site. */
export function checkGcraOptions<R extends string>(
  name: string,
  rateName: R,
  maxTau: bigint,
  options: unknown,
): GcraConfig<R> {
  const o = object<Record<string, unknown>>(options, `${name} options`);
  onlyKeys(o, `${name} options`, ['capacity', rateName]);
  const capacity = integer(o.capacity, `${name} capacity`, { min: 1, max: MAX_CAPACITY });
  const rate = positive(o[rateName], `${name} ${rateName}`);
  // A rate so small that 1e9 / rate overflows to Infinity is too long a span too (not a RangeError).
  if (!Number.isFinite(1e9 / rate) || BigInt(capacity) * periodOf(rate) >= maxTau) {
    const years = Math.floor(Number(maxTau) / NS_PER_YEAR);
    throw new InvalidArgumentError(`${name} capacity / ${rateName} is too long a span (> ${years} years)`);
  }
  return { capacity, [rateName]: rate } as GcraConfig<R>;
}

/** ns of TAT one unit costs at `rate` units per second, rounded up (at least 1). */
function periodOf(rate: number): bigint {
  return BigInt(Math.ceil(1e9 / rate));
}

/**
 * The shared kind of a GCRA limiter. Memory: one BigInt64 slot, TAT (0 at creation: "full"), then
 * the tag block. Every TAT is a valid state (a far-future one only refuses for a while), so there is
 * no fixed word to check.
 */
export function gcraKind<R extends string, T extends SharedObject>(k: GcraKindSpec<R, T>): GcraKind<R, T> {
  const kind = defineSharedKind<GcraConfig<R>, T>({
    name: k.name,
    tag: k.tag,
    layout: 1,
    checkConfig: (c) => checkGcraOptions(k.name, k.rateName, k.maxTau, c),
    bodyBytes: () => 8,
    make: k.make,
  });
  return { ...kind, rateName: k.rateName };
}

export class GcraBucket {
  /** Most units the bucket holds (tokens, or waiting calls). */
  readonly capacity: number;
  /** Units per second. */
  readonly rate: number;
  /** ns of TAT one unit costs, rounded up. */
  readonly period: bigint;
  /** Burst tolerance in ns: capacity * period (whole periods, so a full bucket admits `capacity`). */
  readonly tau: bigint;
  readonly #v: BigInt64Array;

  /** Views a bucket's memory, for checked options ({@link checkGcraOptions}). */
  constructor(sab: SharedArrayBuffer, capacity: number, rate: number) {
    this.capacity = capacity;
    this.rate = rate;
    this.period = periodOf(rate);
    this.tau = BigInt(capacity) * this.period;
    this.#v = new BigInt64Array(sab, 0, 1);
  }

  /** ns of TAT that `n` units cost: `n` whole periods. */
  cost(n: number): bigint {
    return BigInt(n) * this.period;
  }

  /** Units booked ahead of the clock now (fractional: the bucket drains continuously); 0 when idle. */
  level(): number {
    const backlog = Atomics.load(this.#v, TAT) - nowNs();
    // In whole periods, as admission counts them: `capacity - level()` units are there to take.
    return backlog <= 0n ? 0 : Number(backlog) / Number(this.period);
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
