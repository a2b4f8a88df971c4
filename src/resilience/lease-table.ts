/**
 * The scheduling core of `ConcurrencyManager`: the lease table (permit slots) and the hand-off of
 * permits to waiters; the waiter table, which picks the best waiter, is concurrency-manager-waiters.ts.
 * Every method here runs with the manager's lock held (concurrency-manager-layout.ts has the memory,
 * memory/spin-lock.ts the lock), so inside them plain loads and stores are safe; the few fields a
 * waiter reads without the lock (its WSTATE, WGEN and wait word) are written with Atomics.
 *
 * Grant by hand-off: a permit that is given up (released, reclaimed from an expired lease, or
 * returned by a waiter that gave up just as it was granted) goes straight to the best waiter: the
 * slot is re-granted to it, IN_USE stays the same, the waiter's WSTATE becomes GRANTED and its own
 * wait word is bumped, which wakes only that waiter. Only when nobody waits does IN_USE drop. So
 * after every locked operation, QUEUED > 0 implies IN_USE === MAX: a new acquirer never barges past
 * waiters, and IN_USE never exceeds MAX because it rises only in `tryTake`, which checks it.
 *
 * A waiter that dies: one whose deadline passes is dropped by `best()`; one that is granted a
 * permit and never collects it (its thread was terminated while it waited, or its event loop is
 * stuck) loses the grant after {@link PICKUP_GRACE_MS}, when it is reclaimed like an expired lease and
 * handed on; an owner that was only slow finds its slot gone and queues again.
 *
 * Counting: each waiting acquire ends one way, counted once, by its owner: ACQUIRED when it collects
 * its permit (`pickup`; `tryTake` counts its own), TIMED_OUT or ABORTED when it gives up
 * (`withdraw`, or the owner finding its slot gone past its deadline). A grant is not an acquisition
 * until collected: one its waiter gives up on as it arrives (a timeout or an abort racing the
 * release) is handed on and counted only as the waiter's timeout or abort, and `best()` dropping a
 * waiter past its deadline counts nothing (the owner does). A waiter whose thread died is in none.
 *
 * Leases: a grant with a lease stores its expiry. Any acquirer, and any waiter once the clock passes
 * MIN_EXPIRY, scans the table, reclaims every expired slot (bumping PGEN, so the old holder's late
 * release is a no-op) and hands it on. A crashed worker's permit therefore returns after its lease.
 */
import { SPIN_LOCK_STEAL_MS } from '../memory/spin-lock.js';
import {
  ABORTED,
  ACQUIRED,
  EXPIRED,
  FREE,
  GRANTED,
  HELD,
  IN_USE,
  MAX,
  type ManagerLayout,
  MIN_EXPIRY,
  PTOP,
  QUEUED,
  REJECTED,
  RELEASED,
  TIMED_OUT,
  WAIT_MAX,
  WAIT_SUM,
  WAITING,
} from './concurrency-manager-layout.js';
import type { ConcurrencyManagerMetrics } from './concurrency-manager-options.js';
import { WaiterTable } from './concurrency-manager-waiters.js';

/** The counters of a manager's memory, as `metrics()` reports them, and the wait sum and max (ms). */
export type ManagerCounters = Omit<
  ConcurrencyManagerMetrics,
  'maxConcurrency' | 'available' | 'queueLimit' | 'wait'
> & { waitSum: number; waitMax: number };

/** A lease reclaimed by this thread (reported as a 'leaseExpired' event). */
export interface ExpiredLease {
  permit: number;
  priority: number;
  heldMs: number;
}

/**
 * How long a waiter has to collect a permit granted to it (ms) before the grant is reclaimed. A live
 * owner collects within one turn of its event loop; the bound is the spin lock's steal bound.
 */
export const PICKUP_GRACE_MS = SPIN_LOCK_STEAL_MS;

export class LeaseTable {
  readonly v: Int32Array;
  readonly d: Float64Array;
  readonly waiters: WaiterTable;
  readonly #L: ManagerLayout;
  readonly #onWait: (ms: number) => void;

  constructor(
    sab: SharedArrayBuffer,
    layout: ManagerLayout,
    fair: boolean,
    aging: number,
    onWait: (ms: number) => void,
  ) {
    this.v = new Int32Array(sab, 0, layout.bytes / 4);
    this.d = new Float64Array(sab, 0, layout.bytes / 8);
    this.waiters = new WaiterTable(this.v, this.d, layout, fair, aging);
    this.#L = layout;
    this.#onWait = onWait;
  }

  /** Lower bound on the earliest lease expiry (Infinity: no lease held). */
  get minExpiry(): number {
    return this.d[this.#L.fh + MIN_EXPIRY];
  }

  permitGen(s: number): number {
    return this.v[this.#L.pgen + s];
  }

  /** Whether permit slot `s` is still held under generation `gen`. */
  isHeld(s: number, gen: number): boolean {
    return this.v[this.#L.pstate + s] === HELD && this.v[this.#L.pgen + s] === gen;
  }

  count(k: number): void {
    this.d[this.#L.fh + k]++;
  }

  /** The counters, as of now. */
  counters(): ManagerCounters {
    const { v, d } = this;
    const fh = this.#L.fh;
    return {
      inUse: v[IN_USE],
      queued: v[QUEUED],
      acquired: d[fh + ACQUIRED],
      released: d[fh + RELEASED],
      rejected: d[fh + REJECTED],
      timedOut: d[fh + TIMED_OUT],
      aborted: d[fh + ABORTED],
      leasesExpired: d[fh + EXPIRED],
      waitSum: d[fh + WAIT_SUM],
      waitMax: d[fh + WAIT_MAX],
    };
  }

  /** Reclaims every expired lease if the clock has passed MIN_EXPIRY; appends them to `out`. */
  reclaimDue(now: number, out: ExpiredLease[]): void {
    const { v, d } = this;
    const L = this.#L;
    if (now < d[L.fh + MIN_EXPIRY]) return;
    let min = Number.POSITIVE_INFINITY;
    const due: number[] = [];
    for (let s = 0; s < L.max; s++) {
      if (v[L.pstate + s] !== HELD) continue;
      const e = d[L.pexp + s];
      if (e <= now) due.push(s);
      else if (e < min) min = e;
    }
    d[L.fh + MIN_EXPIRY] = min;
    for (const s of due) {
      out.push({ permit: s, priority: v[L.pprio + s], heldMs: now - d[L.psince + s] });
      const w = v[L.pwaiter + s];
      if (w >= 0) this.waiters.free(w); // granted to a waiter that never came for it
      d[L.fh + EXPIRED]++;
      this.#vacate(s, now);
    }
  }

  /** Takes a permit if one is free and nobody waits: its slot, or -1. */
  tryTake(priority: number, lease: number, now: number): number {
    const v = this.v;
    if (v[IN_USE] >= v[MAX] || v[QUEUED] > 0) return -1;
    const s = v[this.#L.pstack + --v[PTOP]];
    v[IN_USE]++;
    this.#hold(s, priority, lease, now);
    this.#acquired(0);
    return s;
  }

  /** Gives back permit `s` held under `gen`; false (and nothing done) if that holding is over. */
  release(s: number, gen: number, now: number): boolean {
    if (!this.isHeld(s, gen)) return false;
    this.d[this.#L.fh + RELEASED]++;
    this.#vacate(s, now);
    return true;
  }

  /** Moves the expiry of permit `s` to now + lease; false if that holding is over. */
  renew(s: number, gen: number, lease: number, now: number): boolean {
    if (!this.isHeld(s, gen)) return false;
    this.#setExpiry(s, now + lease);
    return true;
  }

  /**
   * The waiter collects its grant: the permit slot, or -1 if its slot was taken from it. From now on
   * the permit's expiry is its lease's (the pickup grace no longer applies).
   */
  pickup(w: number, gen: number): number {
    const { v, d } = this;
    const L = this.#L;
    if (v[L.wgen + w] !== gen || v[L.wstate + w] !== GRANTED) return -1;
    const s = v[L.wpermit + w];
    v[L.pwaiter + s] = -1;
    // Later than the grace expiry set at grant (or equal): MIN_EXPIRY stays a valid lower bound.
    d[L.pexp + s] = d[L.psince + s] + d[L.wlease + w];
    // Acquired now, not at the grant; its wait ran from the acquire to the grant.
    this.#acquired(d[L.psince + s] - d[L.wenq + w]);
    this.waiters.free(w);
    return s;
  }

  /**
   * The waiter gives up (timeout or abort, counted in `why`: it ends this way whoever removed it);
   * a grant that raced in is handed on, never having been acquired.
   */
  withdraw(w: number, gen: number, why: typeof TIMED_OUT | typeof ABORTED, now: number): void {
    const { v, d } = this;
    const L = this.#L;
    d[L.fh + why]++;
    if (v[L.wgen + w] !== gen) return; // already removed: dropped past its deadline, or its grant reclaimed
    if (v[L.wstate + w] === WAITING) {
      this.waiters.dequeue(w);
      this.waiters.free(w);
      return;
    }
    const s = v[L.wpermit + w];
    v[L.pwaiter + s] = -1;
    this.waiters.free(w);
    this.#vacate(s, now);
  }

  /** Counts a permit handed to its caller, who waited `waited` ms for it. */
  #acquired(waited: number): void {
    const d = this.d;
    const fh = this.#L.fh;
    d[fh + ACQUIRED]++;
    d[fh + WAIT_SUM] += waited;
    if (waited > d[fh + WAIT_MAX]) d[fh + WAIT_MAX] = waited;
    this.#onWait(waited);
  }

  #hold(s: number, priority: number, lease: number, now: number): void {
    const { v, d } = this;
    const L = this.#L;
    v[L.pgen + s] = (v[L.pgen + s] + 1) | 0;
    v[L.pstate + s] = HELD;
    v[L.pwaiter + s] = -1;
    v[L.pprio + s] = priority;
    d[L.psince + s] = now;
    this.#setExpiry(s, now + lease);
  }

  #setExpiry(s: number, e: number): void {
    const d = this.d;
    const L = this.#L;
    d[L.pexp + s] = e;
    if (e < d[L.fh + MIN_EXPIRY]) {
      d[L.fh + MIN_EXPIRY] = e;
      // Sleeping waiters planned their wake-up on the old bound: wake them to plan again.
      this.waiters.wakeAll();
    }
  }

  /** Permit `s` is given up: hand it to the best waiter, or free it. */
  #vacate(s: number, now: number): void {
    const { v, d } = this;
    const L = this.#L;
    const w = this.waiters.best(now);
    if (w < 0) {
      v[L.pstate + s] = FREE;
      d[L.pexp + s] = Number.POSITIVE_INFINITY;
      v[L.pstack + v[PTOP]++] = s;
      v[IN_USE]--;
      return;
    }
    this.waiters.dequeue(w);
    this.#hold(s, v[L.wprio + w], d[L.wlease + w], now);
    v[L.pwaiter + s] = w;
    // Pickup grace: until its owner collects it, a grant expires PICKUP_GRACE_MS after
    // it was made, whatever its lease. A waiter whose thread was terminated never collects, and no
    // thread can see another die, so its grant is reclaimed and handed on like an expired lease.
    if (d[L.wlease + w] > PICKUP_GRACE_MS) this.#setExpiry(s, now + PICKUP_GRACE_MS);
    this.waiters.grant(w, s, v[L.pgen + s]);
  }
}
