/**
 * The shared-memory layout of a `CircuitBreaker`: every piece of its state, so one breaker passed to
 * many threads is one breaker. `circuit-breaker-state.ts` reads and changes it.
 *
 * Int32 slots of `sab`, grouped in 16-slot (64-byte) lines by who writes them, so that the line a
 * healthy call reads (STATE) is not the line other threads write on every call:
 *
 *   line 0, read by every call, written rarely:
 *   0  STATE      (version << 3) | state code; written only under LOCK, read lock-free by every call
 *   1  WATCHERS   threads whose stateChange watcher sleeps on STATE; a transition notifies only if > 0
 *   2  CONSEC     counted failures in a row in this closed epoch
 *   line 1, written under LOCK:
 *   16 LOCK       the lock word, and 17 its holder's stamp (memory/spin-lock.ts)
 *   18 PROBES     probes admitted in this half-open epoch
 *   19 PROBES_OK  of those, probes that succeeded
 *   20 LEVEL      reset backoff level: failed probes since the circuit last closed
 *   21 W_CALLS    outcomes in the window        22 W_FAILS  of them failures    23 W_SLOW  of them slow
 *   24 CURSOR     count window: the ring slot the next outcome overwrites
 *   line 2:
 *   32..47 LOG    the last 16 transitions: ((version & 0x3ffffff) << 6) | (from << 3) | to, at version & 15
 *   lines 3..10, one per stripe: lifetime totals, striped by thread (threadId % STRIPES) so that
 *                 threads count without sharing a line; metrics() sums the stripes. In each stripe:
 *                 +0 successes, +1 failures, +2 ignored, +3 rejected, +4 slow. Rejected: Atomics.add
 *                 without LOCK. The others: the same in consecutive-only mode; plain increments under
 *                 LOCK in rate mode, which takes LOCK for every outcome anyway (the mode never changes)
 *   176..         count window: `size` ring slots, each 0 (empty) or 1 | 2 if failed | 4 if slow;
 *                 time window: BUCKETS × (calls, fails, slow)
 *
 * Float64 slots, after the Int32 ones: OPENED_AT, OPEN_UNTIL, HALF_OPENED_AT (all on `now()`'s clock,
 * the same in every thread; HALF_OPENED_AT bounds half-open by `halfOpenTimeout`), LAST_EPOCH (time window: the newest epoch swept; bucket i holds epoch k with
 * k % BUCKETS === i, for the BUCKETS epochs up to LAST_EPOCH).
 *
 * A transition to the state it leaves (`reset()` of a closed breaker) still bumps the version, so
 * outcomes of calls admitted before it are dropped, but it is not reported as a stateChange.
 *
 * Why it is race-free. Every change of any slot except the atomic lifetime totals and one CONSEC reset
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
 * A worker terminated inside a critical section (a few hundred nanoseconds of straight-line code)
 * leaves LOCK held; the next thread that needs it takes it over after a second (memory/spin-lock.ts).
 * That section's change may be half made (say, a window aggregate off by one until the window is next
 * cleared, when the breaker closes); every later section still sees the slots in range.
 */
import type { BreakerConfig, CircuitState } from './circuit-breaker-options.js';

export const STATE = 0;
export const WATCHERS = 1;
export const CONSEC = 2;
export const LOCK = 16;
export const PROBES = 18;
export const PROBES_OK = 19;
export const LEVEL = 20;
export const W_CALLS = 21;
export const W_FAILS = 22;
export const W_SLOW = 23;
export const CURSOR = 24;
export const LOG = 32;
export const LOG_SIZE = 16;
/** First stripe of totals; stripe i starts at STRIPE0 + i * STRIPE_STRIDE. */
export const STRIPE0 = 48;
export const STRIPE_STRIDE = 16;
export const STRIPES = 8;
/** Offsets of the totals inside a stripe. */
export const T_SUCCESS = 0;
export const T_FAILURE = 1;
export const T_IGNORED = 2;
export const T_REJECTED = 3;
export const T_SLOW = 4;
export const WIN = STRIPE0 + STRIPES * STRIPE_STRIDE;

export const F_OPENED_AT = 0;
export const F_OPEN_UNTIL = 1;
export const F_LAST_EPOCH = 2;
export const F_HALF_OPENED_AT = 3;
export const F_SLOTS = 4;

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

export const VERSION_MASK = 0x1fffffff;

/** Int32 slots before the Float64 part: an even count, so the Float64 part is 8-byte aligned. */
export function intSlots(c: BreakerConfig): number {
  return (WIN + (c.windowKind === 'count' ? c.windowSize : 3 * BUCKETS) + 1) & ~1;
}

/** Bytes of a breaker's memory (its body: the tag block follows, memory/shared-tag.ts). */
export function breakerBytes(c: BreakerConfig): number {
  return intSlots(c) * 4 + F_SLOTS * 8;
}

/** Initializes a new breaker's (zeroed) memory: closed at version 0. */
export function initBreakerMemory(sab: SharedArrayBuffer, c: BreakerConfig): void {
  const f = new Float64Array(sab, intSlots(c) * 4, F_SLOTS);
  f[F_LAST_EPOCH] = Number.NEGATIVE_INFINITY;
}
