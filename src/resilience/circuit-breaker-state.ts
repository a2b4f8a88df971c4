/**
 * The shared memory of a `CircuitBreaker`: every piece of its state, so one breaker passed to many
 * threads is one breaker.
 *
 * Int32 slots of `sab`:
 *
 *   0  LOCK       0 free, 1 held, 2 held and a thread may sleep on it (Drepper's futex mutex)
 *   1  STATE      (version << 3) | state code; written only under LOCK, read lock-free by every call
 *   2  WATCHERS   threads whose stateChange watcher sleeps on STATE; a transition notifies only if > 0
 *   3  CONSEC     counted failures in a row in this closed epoch
 *   4  PROBES     probes admitted in this half-open epoch
 *   5  PROBES_OK  of those, probes that succeeded
 *   6  LEVEL      reset backoff level: failed probes since the circuit last closed
 *   7  W_CALLS    outcomes in the window          8 W_FAILS  of them failures    9 W_SLOW  of them slow
 *   10 CURSOR     count window: the ring slot the next outcome overwrites
 *   11..15        lifetime totals: successes, failures, ignored, rejected, slow (Atomics.add, no LOCK)
 *   16..31 LOG    the last 16 transitions: ((version & 0x3ffffff) << 6) | (from << 3) | to, at version & 15
 *   32..          count window: `size` ring slots, each 0 (empty) or 1 | 2 if failed | 4 if slow;
 *                 time window: BUCKETS × (calls, fails, slow)
 *
 * Float64 slots, after the Int32 ones: OPENED_AT, OPEN_UNTIL (both on `now()`'s clock, the same in
 * every thread), LAST_EPOCH (time window: the newest epoch swept; bucket i holds epoch k with
 * k % BUCKETS === i, for the BUCKETS epochs up to LAST_EPOCH).
 *
 * A transition to the state it leaves (`reset()` of a closed breaker) still bumps the version, so
 * outcomes of calls admitted before it are dropped, but it is not reported as a stateChange.
 *
 * Why it is race-free. Every change of any slot except the lifetime totals and one CONSEC reset
 * happens under LOCK, so each change is a critical section that sees and leaves a consistent state
 * (the ring and its aggregates, the buckets and theirs, STATE and its LOG entry). A lock, not CAS
 * loops, because most changes touch several slots at once. Its critical sections are a few dozen
 * loads and stores that call nothing and allocate nothing, so a waiter spins briefly and only then
 * sleeps in `Atomics.wait` (allowed on Node's main thread too). The Float64 slots are touched only
 * under LOCK, whose acquire and release (sequentially consistent RMWs) order those plain accesses.
 *
 * Lock-free reads: each call loads STATE once (the hot check) and admits at once when it is closed.
 * The call keeps that word as its ticket; when it settles, its outcome counts only if STATE still
 * holds the same word (same version): outcomes of calls admitted before a transition do not leak
 * into the next epoch, and a half-open probe is matched to its own half-open epoch. The one change
 * outside LOCK: in consecutive-only mode a success with CONSEC already 0 records nothing, and one that
 * finds CONSEC > 0 stores 0 (atomically); that is a linearizable reset of the run of failures
 * (a concurrent failure's increment under LOCK either precedes it or follows it).
 *
 * Caveat: a worker terminated inside a critical section would leave LOCK held. The sections are a few
 * hundred nanoseconds of straight-line code; bound the work you run through a breaker instead of
 * terminating the threads that run it.
 */
import { now } from '../memory/clock.js';
import { cpuRelax } from '../memory/spin.js';
import { type BreakerConfig, type CircuitState, openDuration } from './circuit-breaker-options.js';

const LOCK = 0;
export const STATE = 1;
export const WATCHERS = 2;
const CONSEC = 3;
const PROBES = 4;
const PROBES_OK = 5;
const LEVEL = 6;
const W_CALLS = 7;
const W_FAILS = 8;
const W_SLOW = 9;
const CURSOR = 10;
const T_SUCCESS = 11;
const T_FAILURE = 12;
const T_IGNORED = 13;
const T_REJECTED = 14;
const T_SLOW = 15;
const LOG = 16;
const LOG_SIZE = 16;
const WIN = 32;

const F_OPENED_AT = 0;
const F_OPEN_UNTIL = 1;
const F_LAST_EPOCH = 2;
const F_SLOTS = 3;

/** Buckets of a time window: a call leaves it between size × 19/20 and size ms after it was recorded. */
export const BUCKETS = 20;

/** State codes (the low 3 bits of STATE). */
export const CLOSED = 0;
export const OPEN = 1;
export const HALF_OPEN = 2;
export const FORCED_OPEN = 3;
export const FORCED_CLOSED = 4;
export const STATE_NAMES: readonly CircuitState[] = [
  'closed',
  'open',
  'half-open',
  'forced-open',
  'forced-closed',
];

/** The ticket of a refused call: code 7 is no state, so no STATE word equals it. */
export const REFUSED = 7;

/** Outcomes a settled call records. */
export const SUCCESS = 0;
export const FAILURE = 1;
export const IGNORE = 2;
export const PERMANENT = 3;

const VERSION_MASK = 0x1fffffff;
const LOCK_SPINS = 200;

function intSlots(c: BreakerConfig): number {
  return WIN + (c.windowKind === 'count' ? c.windowSize : 3 * BUCKETS);
}

/** Allocates a breaker's memory, closed at version 0. */
export function createBreakerMemory(c: BreakerConfig): SharedArrayBuffer {
  const ints = (intSlots(c) + 1) & ~1; // round up so the Float64 part is 8-byte aligned
  const sab = new SharedArrayBuffer(ints * 4 + F_SLOTS * 8);
  const f = new Float64Array(sab, ints * 4);
  f[F_LAST_EPOCH] = Number.NEGATIVE_INFINITY;
  return sab;
}

/** A transition, as the LOG keeps it. */
export interface Transition {
  readonly from: CircuitState;
  readonly to: CircuitState;
}

/** What `metrics()` reports (figures of the window are swept to now first). */
export interface BreakerSnapshot {
  state: CircuitState;
  consecutiveFailures: number;
  windowCalls: number;
  windowFailures: number;
  windowSlowCalls: number;
  halfOpenProbes: number;
  backoffLevel: number;
  openedAt: number | undefined;
  nextAttemptAt: number | undefined;
  successes: number;
  failures: number;
  ignored: number;
  rejected: number;
  slowCalls: number;
}

/** One thread's view of a breaker's memory. All methods are safe to call from any thread at any time. */
export class BreakerMemory {
  readonly v: Int32Array;
  readonly #f: Float64Array;
  readonly #c: BreakerConfig;
  readonly #rate: boolean;
  readonly #width: number;
  /** This thread's copy of OPEN_UNTIL, valid while STATE === #openWord. */
  #openWord = REFUSED;
  #openUntil = 0;

  constructor(sab: SharedArrayBuffer, c: BreakerConfig) {
    const ints = (intSlots(c) + 1) & ~1;
    this.v = new Int32Array(sab, 0, ints);
    this.#f = new Float64Array(sab, ints * 4, F_SLOTS);
    this.#c = c;
    this.#rate = c.failureRateThreshold > 0 || c.slowCallRateThreshold > 0;
    this.#width = c.windowKind === 'time' ? c.windowSize / BUCKETS : 0;
  }

  #lock(): void {
    const v = this.v;
    let c = Atomics.compareExchange(v, LOCK, 0, 1);
    if (c === 0) return;
    for (let i = 0; i < LOCK_SPINS; i++) {
      cpuRelax();
      if (Atomics.load(v, LOCK) === 0 && (c = Atomics.compareExchange(v, LOCK, 0, 1)) === 0) return;
    }
    // Mark the lock contended (2) before sleeping, so the holder's unlock knows to notify.
    if (c !== 2) c = Atomics.exchange(v, LOCK, 2);
    while (c !== 0) {
      Atomics.wait(v, LOCK, 2);
      c = Atomics.exchange(v, LOCK, 2);
    }
  }

  #unlock(): void {
    const v = this.v;
    if (Atomics.sub(v, LOCK, 1) !== 1) {
      Atomics.store(v, LOCK, 0);
      Atomics.notify(v, LOCK, 1);
    }
  }

  /** Moves to state `to` (under LOCK): logs the transition and bumps the version. */
  #set(to: number): void {
    const v = this.v;
    const cur = v[STATE];
    const ver = ((cur >>> 3) + 1) & VERSION_MASK;
    if (to === OPEN) {
      const t = now();
      this.#f[F_OPENED_AT] = t;
      this.#f[F_OPEN_UNTIL] = t + openDuration(this.#c, v[LEVEL]);
    } else if (to === HALF_OPEN) {
      v[PROBES] = 0;
      v[PROBES_OK] = 0;
    } else if (to === CLOSED) {
      this.#clearWindow();
      v[LEVEL] = 0;
    }
    v[LOG + (ver & (LOG_SIZE - 1))] = ((ver & 0x3ffffff) << 6) | ((cur & 7) << 3) | to;
    Atomics.store(v, STATE, (ver << 3) | to);
    if (Atomics.load(v, WATCHERS) > 0) Atomics.notify(v, STATE);
  }

  #clearWindow(): void {
    const v = this.v;
    v.fill(0, WIN);
    v[W_CALLS] = v[W_FAILS] = v[W_SLOW] = v[CURSOR] = 0;
    Atomics.store(v, CONSEC, 0);
    this.#f[F_LAST_EPOCH] = Number.NEGATIVE_INFINITY;
  }

  /** The STATE word to admit a call under, or {@link REFUSED}. Probes get a HALF_OPEN word. */
  admit(): number {
    const v = this.v;
    for (;;) {
      const s = Atomics.load(v, STATE);
      const code = s & 7;
      if (code === CLOSED || code === FORCED_CLOSED) return s;
      if (code === FORCED_OPEN) return REFUSED;
      if (code === OPEN && s === this.#openWord && now() < this.#openUntil) return REFUSED;
      this.#lock();
      let r: number;
      try {
        r = this.#admitLocked(s, code);
      } finally {
        this.#unlock();
      }
      if (r !== -1) return r;
    }
  }

  /** -1: STATE moved since `s` was read; try again. */
  #admitLocked(s: number, code: number): number {
    const v = this.v;
    if (v[STATE] !== s) return -1;
    if (code === OPEN) {
      const until = this.#f[F_OPEN_UNTIL];
      this.#openWord = s;
      this.#openUntil = until;
      if (now() < until) return REFUSED;
      this.#set(HALF_OPEN);
      v[PROBES] = 1;
      return v[STATE];
    }
    // HALF_OPEN
    if (v[PROBES] >= this.#c.halfOpenMaxCalls) return REFUSED;
    v[PROBES]++;
    return s;
  }

  /** Counts a refused call. */
  refused(): void {
    Atomics.add(this.v, T_REJECTED, 1);
  }

  /** Records how a call admitted under `ticket` ended. */
  settle(ticket: number, outcome: number, slow: boolean): void {
    const v = this.v;
    Atomics.add(v, outcome === SUCCESS ? T_SUCCESS : outcome === IGNORE ? T_IGNORED : T_FAILURE, 1);
    if (slow) Atomics.add(v, T_SLOW, 1);
    const code = ticket & 7;
    if (code === FORCED_CLOSED) return;
    if (code === CLOSED) {
      if (outcome === IGNORE) return;
      if (outcome === SUCCESS && !this.#rate) {
        if (Atomics.load(v, CONSEC) !== 0 && Atomics.load(v, STATE) === ticket) Atomics.store(v, CONSEC, 0);
        return;
      }
    }
    this.#lock();
    try {
      this.#settleLocked(ticket, code, outcome, slow);
    } finally {
      this.#unlock();
    }
  }

  #settleLocked(ticket: number, code: number, outcome: number, slow: boolean): void {
    const v = this.v;
    const cur = v[STATE];
    if (cur !== ticket) {
      // A permanent failure opens the circuit even if the call began in an earlier epoch.
      const now = cur & 7;
      if (outcome === PERMANENT && (now === CLOSED || now === HALF_OPEN)) this.#set(OPEN);
      return;
    }
    if (code === HALF_OPEN) {
      if (outcome === IGNORE) {
        v[PROBES]--;
      } else if (outcome === SUCCESS && !slow) {
        if (++v[PROBES_OK] >= this.#c.halfOpenMaxCalls) this.#set(CLOSED);
      } else {
        v[LEVEL]++;
        this.#set(OPEN);
      }
      return;
    }
    // CLOSED
    const failed = outcome !== SUCCESS;
    const c = this.#c;
    if (failed) Atomics.add(v, CONSEC, 1);
    else Atomics.store(v, CONSEC, 0);
    if (this.#rate) this.#record(failed, slow);
    if (
      outcome === PERMANENT ||
      (c.failureThreshold > 0 && Atomics.load(v, CONSEC) >= c.failureThreshold) ||
      this.#rateTripped()
    ) {
      this.#set(OPEN);
    }
  }

  #rateTripped(): boolean {
    if (!this.#rate) return false;
    const v = this.v;
    const c = this.#c;
    const calls = v[W_CALLS];
    if (calls < c.minimumCalls || calls === 0) return false;
    return (
      (c.failureRateThreshold > 0 && v[W_FAILS] >= c.failureRateThreshold * calls) ||
      (c.slowCallRateThreshold > 0 && v[W_SLOW] >= c.slowCallRateThreshold * calls)
    );
  }

  /** Adds one outcome to the window (under LOCK). */
  #record(failed: boolean, slow: boolean): void {
    const v = this.v;
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
      const b = WIN + 3 * (this.#sweep() % BUCKETS);
      v[b]++;
      if (failed) v[b + 1]++;
      if (slow) v[b + 2]++;
    }
    v[W_CALLS]++;
    if (failed) v[W_FAILS]++;
    if (slow) v[W_SLOW]++;
  }

  /**
   * Time window (under LOCK): drops the buckets that fell out of the window and returns the current
   * epoch. The time is read under LOCK, so epochs only grow from one critical section to the next.
   */
  #sweep(): number {
    const v = this.v;
    const f = this.#f;
    const e = Math.floor(now() / this.#width);
    const last = f[F_LAST_EPOCH];
    if (e > last) {
      for (let k = Math.max(last + 1, e - BUCKETS + 1); k <= e; k++) {
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

  /** Moves to `to` unless already there: forceOpen, forceClose, reset. */
  force(to: number): void {
    this.#lock();
    try {
      const cur = this.v[STATE] & 7;
      if (to === CLOSED) {
        this.v[LEVEL] = 0;
        this.#set(CLOSED);
      } else if (cur !== to) {
        this.#set(to);
      }
    } finally {
      this.#unlock();
    }
  }

  /**
   * The transitions after the STATE word `seen`, and the STATE word they lead to. When more than
   * the LOG holds happened, one transition from `seen`'s state to the current one stands for them.
   */
  since(seen: number): { word: number; changes: Transition[] } {
    const v = this.v;
    this.#lock();
    try {
      const word = v[STATE];
      const changes: Transition[] = [];
      const from = seen >>> 3;
      const n = ((word >>> 3) - from) & VERSION_MASK;
      for (let i = 1; i <= n; i++) {
        const ver = (from + i) & VERSION_MASK;
        const e = v[LOG + (ver & (LOG_SIZE - 1))];
        if (n > LOG_SIZE || e >>> 6 !== (ver & 0x3ffffff)) {
          changes.length = 0;
          if ((seen & 7) !== (word & 7))
            changes.push({ from: STATE_NAMES[seen & 7], to: STATE_NAMES[word & 7] });
          break;
        }
        if (((e >>> 3) & 7) !== (e & 7))
          changes.push({ from: STATE_NAMES[(e >>> 3) & 7], to: STATE_NAMES[e & 7] });
      }
      return { word, changes };
    } finally {
      this.#unlock();
    }
  }

  /** A consistent snapshot of everything. */
  snapshot(): BreakerSnapshot {
    const v = this.v;
    const f = this.#f;
    this.#lock();
    try {
      if (this.#rate && this.#width > 0) this.#sweep();
      const code = v[STATE] & 7;
      const open = code === OPEN;
      return {
        state: STATE_NAMES[code],
        consecutiveFailures: Atomics.load(v, CONSEC),
        windowCalls: v[W_CALLS],
        windowFailures: v[W_FAILS],
        windowSlowCalls: v[W_SLOW],
        halfOpenProbes: code === HALF_OPEN ? v[PROBES] : 0,
        backoffLevel: v[LEVEL],
        openedAt: open ? f[F_OPENED_AT] : undefined,
        nextAttemptAt: open ? f[F_OPEN_UNTIL] : undefined,
        successes: Atomics.load(v, T_SUCCESS),
        failures: Atomics.load(v, T_FAILURE),
        ignored: Atomics.load(v, T_IGNORED),
        rejected: Atomics.load(v, T_REJECTED),
        slowCalls: Atomics.load(v, T_SLOW),
      };
    } finally {
      this.#unlock();
    }
  }
}
