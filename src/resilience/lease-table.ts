/**
 * The scheduling core of `ConcurrencyManager`: the lease table (permit slots), the waiter table
 * (one doubly linked FIFO list per priority) and the hand-off between them. Every method here runs
 * with the manager's lock held (concurrency-manager-layout.ts has the memory, memory/spin-lock.ts
 * the lock), so inside them plain loads and stores are safe; the few fields a waiter reads without
 * the lock (its WSTATE, WGEN and wait word) are written with Atomics.
 *
 * Grant by hand-off: a permit that is given up (released, reclaimed from an expired lease, or
 * returned by a waiter that gave up just as it was granted) goes straight to the best waiter: the
 * slot is re-granted to it, IN_USE stays the same, the waiter's WSTATE becomes GRANTED and its own
 * wait word is bumped, which wakes only that waiter. Only when nobody waits does IN_USE drop. So
 * after every locked operation, QUEUED > 0 implies IN_USE === MAX: a new acquirer never barges past
 * waiters, and IN_USE never exceeds MAX because it rises only in `tryTake`, which checks it.
 *
 * Best waiter: the head of each priority's list is its oldest, so only the ten heads compete. Its
 * effective priority is its own, or with `fair` its own plus one per `aging` ms waited (at most 10);
 * the highest wins and a tie goes to the older ticket. A head whose deadline has passed is removed
 * on the way (its owner finds its slot gone and rejects with TimeoutError): the grant does not go
 * to a waiter that is leaving, or dead.
 *
 * Leases: a grant with a lease stores its expiry. Any acquirer, and any waiter once the clock passes
 * MIN_EXPIRY, scans the table, reclaims every expired slot (bumping PGEN, so the old holder's late
 * release is a no-op) and hands it on. A crashed worker's permit therefore returns after its lease.
 */
import { wake } from '../memory/wait.js';
import {
  type ABORTED,
  ACQUIRED,
  EXPIRED,
  FREE,
  GRANTED,
  HEAD,
  HELD,
  IN_USE,
  MAX,
  type ManagerLayout,
  MIN_EXPIRY,
  PTOP,
  QUEUED,
  REJECTED,
  RELEASED,
  TAIL,
  TICKET,
  TIMED_OUT,
  WAIT_MAX,
  WAIT_SUM,
  WAITING,
  WTOP,
} from './concurrency-manager-layout.js';

/** A lease reclaimed by this thread (reported as a 'leaseExpired' event). */
export interface ExpiredLease {
  permit: number;
  priority: number;
  heldMs: number;
}

export class LeaseTable {
  readonly v: Int32Array;
  readonly d: Float64Array;
  readonly #L: ManagerLayout;
  readonly #fair: boolean;
  readonly #aging: number;
  readonly #onWait: (ms: number) => void;

  constructor(
    sab: SharedArrayBuffer,
    layout: ManagerLayout,
    fair: boolean,
    aging: number,
    onWait: (ms: number) => void,
  ) {
    this.v = new Int32Array(sab);
    this.d = new Float64Array(sab);
    this.#L = layout;
    this.#fair = fair;
    this.#aging = aging;
    this.#onWait = onWait;
  }

  /** Lower bound on the earliest lease expiry (Infinity: no lease held). */
  get minExpiry(): number {
    return this.d[this.#L.fh + MIN_EXPIRY];
  }

  /** Index in the Int32 view of waiter slot `w`'s wait word. */
  wordOf(w: number): number {
    return this.#L.wword + 2 * w;
  }

  /** Whether waiter `w` (enqueued with generation `gen`) has news: granted, or removed. */
  settled(w: number, gen: number): boolean {
    const L = this.#L;
    return Atomics.load(this.v, L.wstate + w) === GRANTED || Atomics.load(this.v, L.wgen + w) !== gen;
  }

  waiterGen(w: number): number {
    return this.v[this.#L.wgen + w];
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
      if (w >= 0) this.#freeWaiter(w); // granted to a waiter that never came for it
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
    this.#hold(s, priority, lease, now, 0);
    return s;
  }

  /** Puts a waiter at the tail of its priority's list: its slot, or -1 if the table is full. */
  enqueue(priority: number, lease: number, deadline: number, now: number): number {
    const { v, d } = this;
    const L = this.#L;
    if (v[WTOP] === 0) {
      d[L.fh + REJECTED]++;
      return -1;
    }
    const w = v[L.wstack + --v[WTOP]];
    Atomics.store(v, L.wstate + w, WAITING);
    v[L.wprio + w] = priority;
    v[L.wticket + w] = v[TICKET];
    v[TICKET] = (v[TICKET] + 1) | 0;
    d[L.wenq + w] = now;
    d[L.wlease + w] = lease;
    d[L.wdeadline + w] = deadline;
    const tail = v[TAIL + priority - 1];
    v[L.wprev + w] = tail;
    v[L.wnext + w] = -1;
    if (tail >= 0) v[L.wnext + tail] = w;
    else v[HEAD + priority - 1] = w;
    v[TAIL + priority - 1] = w;
    v[QUEUED]++;
    return w;
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

  /** The waiter collects its grant: the permit slot, or -1 if its slot was taken from it. */
  pickup(w: number, gen: number): number {
    const v = this.v;
    const L = this.#L;
    if (v[L.wgen + w] !== gen || v[L.wstate + w] !== GRANTED) return -1;
    const s = v[L.wpermit + w];
    v[L.pwaiter + s] = -1;
    this.#freeWaiter(w);
    return s;
  }

  /** The waiter gives up (timeout or abort, counted in `why`); a grant that raced in is handed on. */
  withdraw(w: number, gen: number, why: typeof TIMED_OUT | typeof ABORTED, now: number): void {
    const { v, d } = this;
    const L = this.#L;
    if (v[L.wgen + w] !== gen) return; // already removed, and counted, by a releaser
    d[L.fh + why]++;
    if (v[L.wstate + w] === WAITING) {
      this.#unlink(w);
      v[QUEUED]--;
      this.#freeWaiter(w);
      return;
    }
    const s = v[L.wpermit + w];
    v[L.pwaiter + s] = -1;
    this.#freeWaiter(w);
    d[L.fh + RELEASED]++;
    this.#vacate(s, now);
  }

  #hold(s: number, priority: number, lease: number, now: number, waited: number): void {
    const { v, d } = this;
    const L = this.#L;
    v[L.pgen + s] = (v[L.pgen + s] + 1) | 0;
    v[L.pstate + s] = HELD;
    v[L.pwaiter + s] = -1;
    v[L.pprio + s] = priority;
    d[L.psince + s] = now;
    d[L.fh + ACQUIRED]++;
    d[L.fh + WAIT_SUM] += waited;
    if (waited > d[L.fh + WAIT_MAX]) d[L.fh + WAIT_MAX] = waited;
    this.#onWait(waited);
    this.#setExpiry(s, now + lease);
  }

  #setExpiry(s: number, e: number): void {
    const d = this.d;
    const L = this.#L;
    d[L.pexp + s] = e;
    if (e < d[L.fh + MIN_EXPIRY]) {
      d[L.fh + MIN_EXPIRY] = e;
      // Sleeping waiters planned their wake-up on the old bound: wake them to plan again.
      for (let p = 0; p < 10; p++) {
        for (let w = this.v[HEAD + p]; w >= 0; w = this.v[L.wnext + w]) wake(this.v, this.wordOf(w));
      }
    }
  }

  /** Permit `s` is given up: hand it to the best waiter, or free it. */
  #vacate(s: number, now: number): void {
    const { v, d } = this;
    const L = this.#L;
    const w = this.#best(now);
    if (w < 0) {
      v[L.pstate + s] = FREE;
      d[L.pexp + s] = Number.POSITIVE_INFINITY;
      v[L.pstack + v[PTOP]++] = s;
      v[IN_USE]--;
      return;
    }
    this.#unlink(w);
    v[QUEUED]--;
    this.#hold(s, v[L.wprio + w], d[L.wlease + w], now, now - d[L.wenq + w]);
    v[L.pwaiter + s] = w;
    v[L.wpermit + w] = s;
    v[L.wpgen + w] = v[L.pgen + s];
    Atomics.store(v, L.wstate + w, GRANTED);
    wake(v, this.wordOf(w));
  }

  /** The waiter to serve next (removing heads whose deadline passed), or -1. */
  #best(now: number): number {
    const { v, d } = this;
    const L = this.#L;
    let best = -1;
    let bestEff = 0;
    for (let p = 10; p >= 1; p--) {
      let h = v[HEAD + p - 1];
      while (h >= 0 && d[L.wdeadline + h] <= now) {
        this.#unlink(h);
        v[QUEUED]--;
        this.#freeWaiter(h);
        d[L.fh + TIMED_OUT]++;
        h = v[HEAD + p - 1];
      }
      if (h < 0) continue;
      if (!this.#fair) return h; // lists are scanned from priority 10 down: the first head wins
      const eff = Math.min(10, p + Math.floor((now - d[L.wenq + h]) / this.#aging));
      if (
        best < 0 ||
        eff > bestEff ||
        (eff === bestEff && ((v[L.wticket + h] - v[L.wticket + best]) | 0) < 0)
      ) {
        best = h;
        bestEff = eff;
      }
    }
    return best;
  }

  #unlink(w: number): void {
    const v = this.v;
    const L = this.#L;
    const p = v[L.wprio + w] - 1;
    const prev = v[L.wprev + w];
    const next = v[L.wnext + w];
    if (prev >= 0) v[L.wnext + prev] = next;
    else v[HEAD + p] = next;
    if (next >= 0) v[L.wprev + next] = prev;
    else v[TAIL + p] = prev;
  }

  /** Frees waiter slot `w` and bumps its generation, waking an owner that may still sleep on it. */
  #freeWaiter(w: number): void {
    const v = this.v;
    const L = this.#L;
    Atomics.store(v, L.wstate + w, FREE);
    Atomics.store(v, L.wgen + w, (v[L.wgen + w] + 1) | 0);
    v[L.wstack + v[WTOP]++] = w;
    wake(v, this.wordOf(w));
  }
}
