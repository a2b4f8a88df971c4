/**
 * The sliding window of a breaker in rate mode: a ring of the last `size` outcomes (count window) or
 * BUCKETS time buckets (time window), with running aggregates W_CALLS, W_FAILS, W_SLOW. Every
 * method runs under the breaker's LOCK (see circuit-breaker-layout.ts), so the ring or buckets and
 * their aggregates always agree when LOCK is free.
 */
import { now } from '../memory/clock.js';
import {
  BUCKETS,
  CONSEC,
  CURSOR,
  F_LAST_EPOCH,
  W_CALLS,
  W_FAILS,
  W_SLOW,
  WIN,
} from './circuit-breaker-layout.js';
import type { BreakerConfig } from './circuit-breaker-options.js';

export class OutcomeWindow {
  readonly #v: Int32Array;
  readonly #f: Float64Array;
  readonly #c: BreakerConfig;
  /** Bucket width in ms for a time window; 0 for a count window. */
  readonly #width: number;

  constructor(v: Int32Array, f: Float64Array, c: BreakerConfig) {
    this.#v = v;
    this.#f = f;
    this.#c = c;
    this.#width = c.windowKind === 'time' ? c.windowSize / BUCKETS : 0;
  }

  /** Empties the window and the run of consecutive failures (entering closed). */
  clear(): void {
    const v = this.#v;
    v.fill(0, WIN);
    v[W_CALLS] = v[W_FAILS] = v[W_SLOW] = v[CURSOR] = 0;
    Atomics.store(v, CONSEC, 0);
    this.#f[F_LAST_EPOCH] = Number.NEGATIVE_INFINITY;
  }

  /** Whether a rate threshold is reached, with at least minimumCalls in the window. */
  tripped(): boolean {
    const v = this.#v;
    const c = this.#c;
    const calls = v[W_CALLS];
    if (calls < c.minimumCalls || calls === 0) return false;
    // A quotient, as metrics() reports the rate: the correctly rounded 7 / 100 is the literal 0.07,
    // whereas the product 0.07 * 100 is 7.000000000000001 and 7 failures would not reach it.
    return (
      (c.failureRateThreshold > 0 && v[W_FAILS] / calls >= c.failureRateThreshold) ||
      (c.slowCallRateThreshold > 0 && v[W_SLOW] / calls >= c.slowCallRateThreshold)
    );
  }

  /** Adds one outcome. */
  record(failed: boolean, slow: boolean): void {
    const v = this.#v;
    if (this.#width === 0) {
      const at = WIN + v[CURSOR];
      const old = v[at];
      if (old !== 0) {
        v[W_CALLS]--;
        if (old & 2) v[W_FAILS]--;
        if (old & 4) v[W_SLOW]--;
      }
      v[at] = 1 | (failed ? 2 : 0) | (slow ? 4 : 0);
      v[CURSOR] = (v[CURSOR] + 1) % this.#c.windowSize;
    } else {
      const b = WIN + 3 * (this.sweep() % BUCKETS);
      v[b]++;
      if (failed) v[b + 1]++;
      if (slow) v[b + 2]++;
    }
    v[W_CALLS]++;
    if (failed) v[W_FAILS]++;
    if (slow) v[W_SLOW]++;
  }

  /**
   * Time window: drops the buckets that fell out of the window and returns the current
   * epoch. The time is read under LOCK, so epochs only grow from one critical section to the next.
   */
  sweep(): number {
    const v = this.#v;
    const f = this.#f;
    const e = Math.floor(now() / this.#width);
    const last = f[F_LAST_EPOCH];
    if (e > last) {
      // now() >= 0, so epochs are >= 0 and k % BUCKETS is a bucket index.
      for (let k = Math.max(last + 1, e - BUCKETS + 1, 0); k <= e; k++) {
        const b = WIN + 3 * (k % BUCKETS);
        v[W_CALLS] -= v[b];
        v[W_FAILS] -= v[b + 1];
        v[W_SLOW] -= v[b + 2];
        v[b] = v[b + 1] = v[b + 2] = 0;
      }
      f[F_LAST_EPOCH] = e;
    }
    return e;
  }
}
