/**
 * A tiny spin-then-sleep lock in shared memory, for critical sections of a few dozen loads and
 * stores that call nothing and allocate nothing (the circuit breaker's, the ConcurrencyManager's).
 * A lock, not CAS loops, where one change touches several slots at once.
 *
 * Layout: two Int32 slots the caller gives, `[at]` and `[at + 1]` ({@link SPIN_LOCK_SLOTS}):
 *
 *   [at]      the lock word: 0 free; else (threadId + 1) of the holder, | CONTENDED (bit 30) when a
 *             thread may sleep on the word
 *   [at + 1]  the holding's stamp: how many spin-lock holdings its holder thread had begun (mod 2^32),
 *             so that two holdings by the same thread differ (see below)
 *
 * It is Drepper's futex mutex ("Futexes Are Tricky", mutex 3) with the holder's name in the word.
 * Taking: one CAS 0 -> me when free; else spin a little (the holder leaves within nanoseconds unless
 * it was descheduled), then set CONTENDED on the word and sleep in `Atomics.wait` while the word is
 * unchanged. A thread that takes the lock after sleeping takes it as `me | CONTENDED`, since it
 * cannot know whether others still sleep: at worst one needless notify. Releasing: CAS the word from
 * what it holds to 0; if it held CONTENDED, wake one sleeper.
 *
 * No wake-up is lost: a thread sleeps only on a word with CONTENDED set (by itself or another
 * waiter), and `Atomics.wait` compares the word atomically with going to sleep, so a release in
 * between makes the wait return at once, and a release after it sees CONTENDED and notifies.
 *
 * The main thread: `Atomics.wait` is allowed there in Node, and it blocks the event loop. That is
 * acceptable here because a critical section never runs user code, so the holder leaves within a
 * microsecond unless the OS descheduled it; the main thread sleeps only past the spin, i.e. for about
 * one scheduling quantum, and for longer only in the case below.
 *
 * A holder that dies inside the section. `worker.terminate()` can stop a thread anywhere, and the
 * pool terminates stuck workers, so a thread may vanish holding the lock, which would then stay held
 * forever and deadlock every thread that needs it. So a waiter that sees the same holding (same
 * holder in the word, same stamp in `[at + 1]`) for {@link SPIN_LOCK_STEAL_MS} on its own clock
 * (`fastNow()`, the shared clock) takes the lock over with a CAS from the word it saw, and counts it
 * ({@link spinLockStats}); its sleeps are timed so that it looks again. The trade-off: the bound is a
 * million times what a section takes, but a holder that is alive and merely stalled that long (a
 * stopped debugger, a machine swapping hard) loses the lock, its section then runs at the same time
 * as the new holder's, and its release finds the lock no longer its own: it leaves the word alone
 * and counts a lost release. The dead holder's section may also be half done; the structure using
 * the lock says what that means for it. We take both over a process that hangs the first time a
 * worker is terminated at the wrong instant.
 *
 * Why the stamp, and why the waiter's own clock. The word alone cannot tell two holdings by one
 * thread apart, so the holder writes a stamp just after its CAS. The stamp is a count, not the time:
 * reading a clock costs ~45 ns (measured), more than the whole uncontended lock and unlock (~20 ns),
 * and the critical sections here sit on hot paths; a count tells holdings apart as well. And a waiter
 * times what it sees rather than trusting an age written by the holder: in the instant after a CAS
 * the stamp is still the predecessor's, so two waiters of a dead holder judging by the stamp's age
 * would steal from each other. With both, a waiter steals only after one holding lasted (about) the
 * bound: an observation of a stale stamp means the holding it shows ended just before the current
 * one began, and a stamp stays stale at most until the current holder's store (a plain store: it is
 * read with Atomics.load, an aligned Int32 does not tear, and the release CAS publishes it at the
 * latest).
 */
import { threadId } from 'node:worker_threads';
import { fastNow } from './clock.js';
import { cpuRelax } from './spin.js';
import { parkSync } from './wait/park.js';

/** Int32 slots one spin lock takes, from the index the caller gives: the word and the stamp. */
export const SPIN_LOCK_SLOTS = 2;
/** How long (ms) a waiter sees one holding before it takes the lock over from a dead holder. */
export const SPIN_LOCK_STEAL_MS = 1000;

const FREE = 0;
const CONTENDED = 1 << 30;
const OWNER = CONTENDED - 1;
/** This thread's name in the lock word (thread ids start at 0 on the main thread). */
const ME = (threadId + 1) & OWNER;
/** Spins before sleeping: the holder normally leaves within a few hundred nanoseconds. */
const SPINS = 200;

let steals = 0;
let lostReleases = 0;

/** How often this thread took over a lock from a holder that kept it too long, and released one it had lost. */
export function spinLockStats(): { steals: number; lostReleases: number } {
  return { steals, lostReleases };
}

/** Holdings this thread has begun, of any spin lock (mod 2^32): the stamp of its latest. */
let holdings = 0;

/**
 * Takes the lock in `v[at]` (stamp in `v[at + 1]`), spinning briefly and then sleeping until it is
 * free or its holder has kept it past {@link SPIN_LOCK_STEAL_MS}. Not reentrant.
 *
 * @example
 * ```ts
 * const v = new Int32Array(new SharedArrayBuffer(4 * (SPIN_LOCK_SLOTS + 2)));
 * spinLock(v, 0);
 * try {
 *   v[2]++; v[3]++;            // several slots change together
 * } finally {
 *   spinUnlock(v, 0);
 * }
 * ```
 */
export function spinLock(v: Int32Array, at: number): void {
  if (Atomics.compareExchange(v, at, FREE, ME) !== FREE) lockSlow(v, at);
  holdings = (holdings + 1) | 0;
  v[at + 1] = holdings;
}

function lockSlow(v: Int32Array, at: number): void {
  for (let i = 0; i < SPINS; i++) {
    cpuRelax();
    if (Atomics.load(v, at) === FREE && Atomics.compareExchange(v, at, FREE, ME) === FREE) return;
  }
  // The holding this thread has been watching, and since when (its own clock).
  let holder = 0;
  let held = 0;
  let since = 0;
  for (;;) {
    let w = Atomics.load(v, at);
    if (w === FREE) {
      if (Atomics.compareExchange(v, at, FREE, ME | CONTENDED) === FREE) return;
      continue;
    }
    if ((w & CONTENDED) === 0) {
      if (Atomics.compareExchange(v, at, w, w | CONTENDED) !== w) continue;
      w |= CONTENDED;
    }
    const s = Atomics.load(v, at + 1);
    const t = fastNow();
    if ((w & OWNER) !== holder || s !== held) {
      holder = w & OWNER;
      held = s;
      since = t;
    } else if (t - since >= SPIN_LOCK_STEAL_MS) {
      if (Atomics.compareExchange(v, at, w, ME | CONTENDED) === w) {
        steals++;
        return;
      }
      continue;
    }
    parkSync(v, at, w, SPIN_LOCK_STEAL_MS - (t - since) + 1);
  }
}

/** Releases the lock in `v[at]`, waking one sleeper if there may be any. */
export function spinUnlock(v: Int32Array, at: number): void {
  let w = Atomics.compareExchange(v, at, ME, FREE);
  if (w === ME) return;
  for (;;) {
    if ((w & OWNER) !== ME) {
      // Taken over while this thread held it (see above): the lock is another's now.
      lostReleases++;
      return;
    }
    const seen = Atomics.compareExchange(v, at, w, FREE);
    if (seen === w) break;
    w = seen;
  }
  if (w & CONTENDED) Atomics.notify(v, at, 1);
}
