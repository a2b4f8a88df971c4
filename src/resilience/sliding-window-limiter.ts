import { Fifo } from '../memory/fifo.js';
import { TimeoutError } from '../memory/errors.js';
import { corrupt, defineSharedKind, isReopen, type Reopen, SharedObjectBase } from '../memory/shared-object.js';
import { SPIN_LOCK_STEAL_MS } from '../memory/spin-lock.js';
import { integer, object, onlyKeys, positive } from '../memory/validate.js';
import { abortError, type WaitOptions, watchExit } from '../memory/wait/index.js';
import {
  beginWait,
  minBig,
  msToNs,
  NO_LIMIT,
  nowNs,
  sleepUntilNs,
  timeoutNs,
} from './limiter-util.js';

/** Options of a {@link SlidingWindowLimiter}. */
export interface SlidingWindowLimiterOptions {
  /** Length of the window in milliseconds; > 0. */
  windowMs: number;
  /** Most admissions in any window of that length; an integer >= 1 (8 bytes of memory each). */
  limit: number;
}

// Layout: an exact sliding log, lock-free.
//
//   Int32[0]        CURSOR   k in [0, 2 * limit): the admission to claim next (mod 2 * limit)
//   Int32[1]        unused (pads the ring to 8 bytes)
//   BigInt64[1 + s] RING[s]  for s < limit: 2 * t + p, the clock reading t (ns) of the latest
//                            admission that claimed slot s, and p the parity of its round
//   BigInt64[1 + limit] HOLD 0, or the instant (ns) until which tryAcquire defers to a waiting acquire
//
// Admission number k uses slot s = k mod limit, in round floor(k / limit) (parity p = k >= limit).
// Slot s holds the admission `limit` before, so admitting at t needs its time <= t - window.
// To claim: read k, read RING[s]. If its parity is already p, admission k was claimed but CURSOR not
// yet moved: help move it (CAS k -> k + 1) and retry. Otherwise check the time and CAS RING[s]
// from the value read to 2t + p; CAS on the whole slot is the claim, so of several threads exactly
// one wins it; the winner then moves CURSOR (a failed CAS there means someone helped).
//
// Why exact: every successful CAS replaces a slot's time t' with a t >= t' + window (even a claim
// made from a stale CURSOR: it checks the value it replaces). So each of the `limit` slots holds a
// chain of admission times spaced at least `window` apart, and any window of that length contains
// at most one admission per slot: at most `limit`. A slot's time only grows, so its value never
// returns to one seen before (no ABA). Initial slots hold EMPTY, time -2^61 with parity 1 (round
// -1), and are free whatever the window.
//
// HOLD: an acquire that must wait sleeps on a timer until the next slot frees and claims it then; a
// tryAcquire looping in another thread claimed that slot microseconds after it freed, every time,
// so the acquire starved (0 of 10 acquires within 300 ms against a tryAcquire loop, where the window
// freed 12 slots). So a waiting acquire holds the slot it waits for: before it sleeps it raises HOLD
// to that slot's instant plus a grace, and tryAcquire refuses while the clock is before HOLD (as a
// TokenBucket's tryAcquire refuses while acquires wait). Acquires of any thread claim regardless.
// The waiter lowers HOLD back to 0 when it is done (if HOLD is still its own value); the grace bounds
// how long a waiter whose thread was terminated, or whose event loop stalls, holds tryAcquire off.
// HOLD only ever refuses more, so the exactness argument above is untouched.
const CURSOR = 0;
const RING = 1;
const MAX_LIMIT = 1 << 20;
const EMPTY = -(1n << 62n) + 1n;
/** What the claim returns on success (a refusal returns the instant a slot frees, >= 0). */
const ADMITTED = -1n;
/** How long past its slot's instant a waiting acquire holds tryAcquire off (ns): ConcurrencyManager's pickup grace. */
const HOLD_GRACE = BigInt(SPIN_LOCK_STEAL_MS) * 1_000_000n;

/** A waiting acquire of this thread behind the one that claims: `go` makes it the claimer. */
interface LineWaiter {
  go: () => void;
  /** It left the line (timeout, abort): skipped when its turn comes. */
  gone: boolean;
}

/** What the handle carries besides the memory: the checked options. */
type SlidingWindowConfig = Readonly<SlidingWindowLimiterOptions>;

function config(options: unknown): SlidingWindowConfig {
  const o = object<SlidingWindowLimiterOptions>(options, 'SlidingWindowLimiter options');
  onlyKeys(o, 'SlidingWindowLimiter options', ['windowMs', 'limit']);
  return {
    windowMs: positive(o.windowMs, 'SlidingWindowLimiter windowMs'),
    limit: integer(o.limit, 'SlidingWindowLimiter limit', { min: 1, max: MAX_LIMIT }),
  };
}

const KIND = defineSharedKind<SlidingWindowConfig, SlidingWindowLimiter>({
  name: 'SlidingWindowLimiter',
  tag: 8,
  layout: 2,
  checkConfig: config,
  bodyBytes: (c) => 8 * (RING + c.limit + 1),
  init: (sab, c) => {
    new BigInt64Array(sab, 0, RING + c.limit).fill(EMPTY, RING);
  },
  // CURSOR only ever holds k in [0, 2 * limit).
  checkBody: (sab, c) => {
    const k = new Int32Array(sab, 0, 1)[CURSOR];
    if (!(k >= 0 && k < 2 * c.limit)) throw corrupt('SlidingWindowLimiter', `its cursor is ${k}`);
  },
  make: (r) => new SlidingWindowLimiter(r),
});

/**
 * A sliding-window rate limiter in shared memory: at most `limit` admissions in any `windowMs`
 * span, counted across every thread that holds it. Exact (a log of the last `limit` admission
 * times, not an estimate) and lock-free. Waiting acquires sleep on a timer until the oldest
 * admission leaves the window. Across threads they are not queued in order; within one thread (one
 * limiter object) they are: only the first sleeps and claims, the others wait their turn, so N
 * waiting acquires cost O(N) wake-ups, not O(N^2). `tryAcquire` does not take the slot a waiting
 * acquire sleeps for: it refuses from then until that acquire has claimed (or until a second past
 * the slot's instant, if that acquire never comes for it: its thread was terminated).
 *
 * @example
 * ```ts
 * const limiter = new SlidingWindowLimiter({ windowMs: 60_000, limit: 100 });   // 100 per minute
 * // Either refuse at once (an HTTP handler)...
 * if (!limiter.tryAcquire()) return reply(429);
 * // ...or wait for a turn (a batch job); each call that succeeds counts one admission.
 * await limiter.acquire({ timeout: 5000 });
 * ```
 */
export class SlidingWindowLimiter extends SharedObjectBase<SlidingWindowConfig> {
  readonly #cursor: Int32Array;
  readonly #ring: BigInt64Array;
  /** HOLD's index in #ring. */
  readonly #hold: number;
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #window: bigint;
  /** Whether an acquire of this object is claiming (sleeping for a slot) now: later ones line up. */
  #claiming = false;
  /** Acquires of this object waiting for their turn to claim, first come first. */
  readonly #line = new Fifo<LineWaiter>();

  constructor(options: SlidingWindowLimiterOptions);
  /** @internal rebuilds over checked memory; use {@link SlidingWindowLimiter.from}. */
  constructor(options: SlidingWindowLimiterOptions | Reopen<SlidingWindowConfig>);
  constructor(options: SlidingWindowLimiterOptions | Reopen<SlidingWindowConfig>) {
    super(KIND, isReopen(options) ? options : config(options));
    const c = this.handle.config;
    this.#windowMs = c.windowMs;
    this.#limit = c.limit;
    this.#window = msToNs(c.windowMs);
    this.#cursor = new Int32Array(this.handle.sab, 0, 2);
    this.#ring = new BigInt64Array(this.handle.sab, 0, RING + c.limit + 1);
    this.#hold = RING + c.limit;
  }

  /** The live limiter for what arrived from another thread (the clone of one, or its `handle`). */
  static from(received: unknown): SlidingWindowLimiter {
    return KIND.open(received);
  }

  /** Most admissions in any window. */
  get limit(): number {
    return this.#limit;
  }

  /** Length of the window in milliseconds. */
  get windowMs(): number {
    return this.#windowMs;
  }

  /** Claims an admission at clock reading `t`: ADMITTED, or the instant (ns) the next slot frees. */
  #claim(t: bigint): bigint {
    const cursor = this.#cursor;
    const ring = this.#ring;
    const limit = this.#limit;
    for (;;) {
      const k = Atomics.load(cursor, CURSOR);
      const round = k >= limit ? 1n : 0n;
      const at = RING + (k >= limit ? k - limit : k);
      const v = Atomics.load(ring, at);
      const next = k + 1 === 2 * limit ? 0 : k + 1;
      if ((v & 1n) === round) {
        Atomics.compareExchange(cursor, CURSOR, k, next);
        continue;
      }
      // An empty slot is free whatever the window (its placeholder time -2^61 is no admission,
      // and a window over 73 years long would not have left it yet).
      const free = v === EMPTY ? t : (v >> 1n) + this.#window;
      if (free > t) return free;
      if (Atomics.compareExchange(ring, at, v, 2n * t + round) === v) {
        Atomics.compareExchange(cursor, CURSOR, k, next);
        return ADMITTED;
      }
    }
  }

  /**
   * Admits now if fewer than `limit` admissions lie in the last `windowMs` and no acquire waits for
   * the slot that freed; returns whether it did.
   */
  tryAcquire(): boolean {
    const t = nowNs();
    if (t < Atomics.load(this.#ring, this.#hold)) return false;
    return this.#claim(t) === ADMITTED;
  }

  /** Raises HOLD to `until` (never lowers it); returns `until`, what {@link #unhold} lowers later. */
  #holdUntil(until: bigint): bigint {
    const ring = this.#ring;
    let old = Atomics.load(ring, this.#hold);
    while (old < until) {
      const seen = Atomics.compareExchange(ring, this.#hold, old, until);
      if (seen === old) break;
      old = seen;
    }
    return until;
  }

  /** Lowers HOLD to 0 if it still is `mine` (another waiter's higher hold stays). */
  #unhold(mine: bigint): void {
    if (mine !== 0n) Atomics.compareExchange(this.#ring, this.#hold, mine, 0n);
  }

  /**
   * Waits for an admission. Rejects with TimeoutError as soon as it is clear none can come within
   * `timeout` (the window frees no slot before then), or with AbortError; a refused call takes nothing.
   */
  async acquire(opts?: WaitOptions): Promise<void> {
    const signal = beginWait(opts, 'SlidingWindowLimiter.acquire options');
    // No timeout (or one past NO_LIMIT, 146 years): no deadline at all. A deadline of now + NO_LIMIT
    // refused every wait of a window longer than that with TimeoutError, though none was asked.
    const limit = timeoutNs(opts);
    const deadline = limit === NO_LIMIT ? undefined : nowNs() + limit;
    const timedOut = (): TimeoutError =>
      new TimeoutError(`SlidingWindowLimiter.acquire timed out: no admission frees within ${opts?.timeout} ms`);
    // One claimer per object: every waiter sleeping until the same oldest admission left the window
    // woke together, one won and the rest slept again, so N waiters cost N^2 / 2 timer wake-ups.
    if (this.#claiming) await this.#waitTurn(signal, deadline, timedOut);
    else this.#claiming = true;
    let held = 0n;
    try {
      for (;;) {
        if (signal?.aborted) throw abortError(signal);
        const free = this.#claim(nowNs());
        if (free === ADMITTED) return;
        if (deadline !== undefined && free > deadline) throw timedOut();
        // At most NO_LIMIT: a slot of a window over 146 years frees past what a BigInt64 holds.
        held = this.#holdUntil(minBig(free + HOLD_GRACE, NO_LIMIT));
        await sleepUntilNs(free, signal);
      }
    } finally {
      this.#unhold(held);
      this.#passTurn();
    }
  }

  /**
   * Waits behind this object's claimer until it is this call's turn to claim. Rejects at once when
   * the next slot already frees past `deadline` (none can come for it sooner), at `deadline`, or
   * with AbortError; a waiter that left is skipped.
   */
  #waitTurn(signal: AbortSignal | undefined, deadline: bigint | undefined, timedOut: () => TimeoutError): Promise<void> {
    if (deadline !== undefined && this.#peek(nowNs()) > deadline) return Promise.reject(timedOut());
    return new Promise<void>((resolve, reject) => {
      const ms = deadline === undefined ? undefined : Math.ceil(Number(deadline - nowNs()) / 1e6);
      const w: LineWaiter = {
        gone: false,
        go: () => {
          stopExit();
          resolve();
        },
      };
      const stopExit = watchExit(signal, ms, timedOut, (err) => {
        if (w.gone) return;
        w.gone = true;
        reject(err);
      });
      this.#line.push(w);
    });
  }

  /** The claimer is done: the next waiter still in line claims now, or nobody claims. */
  #passTurn(): void {
    while (this.#line.length > 0) {
      const w = this.#line.shift();
      if (!w.gone) {
        w.gone = true;
        w.go();
        return;
      }
    }
    this.#claiming = false;
  }

  /** The instant (ns) the next admission can be claimed, `t` if now; claims nothing. */
  #peek(t: bigint): bigint {
    const k = Atomics.load(this.#cursor, CURSOR);
    const limit = this.#limit;
    const v = Atomics.load(this.#ring, RING + (k >= limit ? k - limit : k));
    if ((v & 1n) === (k >= limit ? 1n : 0n)) return t; // claimed, cursor not yet moved: unknown, say now
    const free = v === EMPTY ? t : (v >> 1n) + this.#window;
    return free > t ? free : t;
  }
}
