/**
 * One thread's view of a breaker's shared memory: admission, outcomes, transitions, the windows.
 * The layout, and why every access is race-free, is described in `circuit-breaker-layout.ts`.
 */
import { threadId } from 'node:worker_threads';
import { now } from '../memory/clock.js';
import { spinLock, spinUnlock } from '../memory/spin-lock.js';
import {
  CLOSED,
  CONSEC,
  F_OPEN_UNTIL,
  F_OPENED_AT,
  F_HALF_OPENED_AT,
  F_SLOTS,
  FORCED_CLOSED,
  FORCED_OPEN,
  HALF_OPEN,
  IGNORE,
  intSlots,
  LEVEL,
  LOCK,
  LOG,
  LOG_SIZE,
  OPEN,
  PERMANENT,
  PROBES,
  PROBES_OK,
  REFUSED,
  STATE,
  STATE_NAMES,
  STRIPE_STRIDE,
  STRIPE0,
  STRIPES,
  SUCCESS,
  T_FAILURE,
  T_IGNORED,
  T_REJECTED,
  T_SLOW,
  T_SUCCESS,
  VERSION_MASK,
  W_CALLS,
  W_FAILS,
  W_SLOW,
  WATCHERS,
} from './circuit-breaker-layout.js';
import { type BreakerConfig, type CircuitState, openDuration } from './circuit-breaker-options.js';
import { OutcomeWindow } from './circuit-breaker-window.js';

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
  /** When the circuit last opened, in epoch ms (`Date.now()`'s clock); `undefined` unless open. */
  openedAt: number | undefined;
  /** When the first call may go through as a probe, in epoch ms (`Date.now()`'s clock); `undefined` unless open. */
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
  /** The window, in rate mode only. */
  readonly #win: OutcomeWindow | undefined;
  /** This thread's copy of OPEN_UNTIL, valid while STATE === #openWord. */
  #openWord = REFUSED;
  #openUntil = 0;
  /** This thread's stripe of totals. */
  readonly #stripe = STRIPE0 + (threadId % STRIPES) * STRIPE_STRIDE;

  constructor(sab: SharedArrayBuffer, c: BreakerConfig) {
    const ints = intSlots(c);
    this.v = new Int32Array(sab, 0, ints);
    this.#f = new Float64Array(sab, ints * 4, F_SLOTS);
    this.#c = c;
    this.#rate = c.failureRateThreshold > 0 || c.slowCallRateThreshold > 0;
    this.#win = this.#rate ? new OutcomeWindow(this.v, this.#f, c) : undefined;
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
      this.#f[F_HALF_OPENED_AT] = now();
    } else if (to === CLOSED) {
      if (this.#win) this.#win.clear();
      else Atomics.store(v, CONSEC, 0);
      v[LEVEL] = 0;
    }
    v[LOG + (ver & (LOG_SIZE - 1))] = ((ver & 0x3ffffff) << 6) | ((cur & 7) << 3) | to;
    Atomics.store(v, STATE, (ver << 3) | to);
    if (Atomics.load(v, WATCHERS) > 0) Atomics.notify(v, STATE);
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
      spinLock(this.v, LOCK);
      let r: number;
      try {
        r = this.#admitLocked(s, code);
      } finally {
        spinUnlock(this.v, LOCK);
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
    if (v[PROBES] >= this.#c.halfOpenMaxCalls) {
      // Probes out past halfOpenTimeout are presumed lost (hung, or their thread was terminated:
      // nothing else would ever settle them): a failed probe, so open again with backoff. Their
      // late outcomes carry the old STATE word and are dropped.
      if (now() - this.#f[F_HALF_OPENED_AT] >= this.#c.halfOpenTimeout) {
        v[LEVEL]++;
        this.#set(OPEN);
      }
      return REFUSED;
    }
    v[PROBES]++;
    return s;
  }

  /** Counts a refused call. */
  refused(): void {
    Atomics.add(this.v, this.#stripe + T_REJECTED, 1);
  }

  /** Records how a call admitted under `ticket` ended. */
  settle(ticket: number, outcome: number, slow: boolean): void {
    const v = this.v;
    const total =
      this.#stripe + (outcome === SUCCESS ? T_SUCCESS : outcome === IGNORE ? T_IGNORED : T_FAILURE);
    const code = ticket & 7;
    if (this.#rate) {
      // Rate mode takes LOCK for (nearly) every outcome anyway, so its totals are counted inside it
      // with plain increments: one atomic read-modify-write less per call. (Consecutive mode counts
      // them with Atomics.add outside LOCK; a breaker never changes mode, so no slot mixes the two.)
      spinLock(v, LOCK);
      try {
        v[total]++;
        if (slow) v[this.#stripe + T_SLOW]++;
        if (code !== FORCED_CLOSED && (code !== CLOSED || outcome !== IGNORE)) {
          this.#settleLocked(ticket, code, outcome, slow);
        }
      } finally {
        spinUnlock(v, LOCK);
      }
      return;
    }
    Atomics.add(v, total, 1);
    if (slow) Atomics.add(v, this.#stripe + T_SLOW, 1);
    if (code === FORCED_CLOSED) return;
    if (code === CLOSED) {
      if (outcome === IGNORE) return;
      if (outcome === SUCCESS) {
        if (Atomics.load(v, CONSEC) !== 0 && Atomics.load(v, STATE) === ticket) Atomics.store(v, CONSEC, 0);
        return;
      }
    }
    spinLock(v, LOCK);
    try {
      this.#settleLocked(ticket, code, outcome, slow);
    } finally {
      spinUnlock(v, LOCK);
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
    else if (Atomics.load(v, CONSEC) !== 0) Atomics.store(v, CONSEC, 0);
    this.#win?.record(failed, slow);
    if (
      outcome === PERMANENT ||
      (c.failureThreshold > 0 && Atomics.load(v, CONSEC) >= c.failureThreshold) ||
      this.#win?.tripped() === true
    ) {
      this.#set(OPEN);
    }
  }

  /** Moves to `to` unless already there: forceOpen, forceClose, reset. */
  force(to: number): void {
    spinLock(this.v, LOCK);
    try {
      const cur = this.v[STATE] & 7;
      if (to === CLOSED) {
        this.v[LEVEL] = 0;
        this.#set(CLOSED);
      } else if (cur !== to) {
        this.#set(to);
      }
    } finally {
      spinUnlock(this.v, LOCK);
    }
  }

  /**
   * The transitions after the STATE word `seen`, and the STATE word they lead to. When more than
   * the LOG holds happened, one transition from `seen`'s state to the current one stands for them.
   */
  since(seen: number): { word: number; changes: Transition[] } {
    const v = this.v;
    spinLock(this.v, LOCK);
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
      spinUnlock(this.v, LOCK);
    }
  }

  /** One lifetime total, summed over the stripes. */
  #total(offset: number): number {
    let sum = 0;
    // Unsigned: a stripe's Int32 word past 2^31 calls is a count, not a negative number (it wraps to
    // 0 at 2^32, which a Prometheus scraper takes as a counter reset).
    for (let i = 0; i < STRIPES; i++) sum += Atomics.load(this.v, STRIPE0 + i * STRIPE_STRIDE + offset) >>> 0;
    return sum;
  }

  /** A consistent snapshot of everything. */
  snapshot(): BreakerSnapshot {
    const v = this.v;
    const f = this.#f;
    // The instants are kept on the shared monotonic clock (the same in every thread), which no
    // public API reads: reported as is, they were milliseconds since boot that a user could not
    // compare with anything. Moved to Date.now()'s clock (the offset is read before LOCK is taken).
    const toWall = Date.now() - now();
    spinLock(this.v, LOCK);
    try {
      if (this.#c.windowKind === 'time') this.#win?.sweep();
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
        openedAt: open ? f[F_OPENED_AT] + toWall : undefined,
        nextAttemptAt: open ? f[F_OPEN_UNTIL] + toWall : undefined,
        successes: this.#total(T_SUCCESS),
        failures: this.#total(T_FAILURE),
        ignored: this.#total(T_IGNORED),
        rejected: this.#total(T_REJECTED),
        slowCalls: this.#total(T_SLOW),
      };
    } finally {
      spinUnlock(this.v, LOCK);
    }
  }
}
