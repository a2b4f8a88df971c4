/**
 * A tiny lock in one Int32 slot of shared memory, for critical sections of a few dozen loads and
 * stores (the circuit breaker's). Drepper's futex mutex ("Futexes Are Tricky", mutex 3):
 *
 *   0 free, 1 held, 2 held and some thread may be asleep on the slot.
 *
 * Taking it: one CAS 0 -> 1 when free; else spin a little (the holder leaves within nanoseconds
 * unless it was descheduled), then swap in 2 and sleep in `Atomics.wait` while the slot is 2.
 * Releasing: a decrement; only if it was 2 (someone may sleep) store 0 and wake one sleeper.
 *
 * No wake-up is lost: a thread sleeps only after it stored 2 itself, and `Atomics.wait` compares
 * the slot with 2 atomically with going to sleep, so a release that happened in between makes the
 * wait return at once; a release after it sees 2 and notifies. A woken thread swaps in 2 (not 1),
 * since it cannot know whether others still sleep: at worst one needless notify. `Atomics.wait` is
 * allowed on Node's main thread, and is used only after the spin, when the holder is descheduled.
 */
import { cpuRelax } from '../memory/spin.js';

const SPINS = 200;

/** Takes the lock in `v[at]`, spinning briefly and then sleeping until it is free. */
export function lockWord(v: Int32Array, at: number): void {
  let c = Atomics.compareExchange(v, at, 0, 1);
  if (c === 0) return;
  for (let i = 0; i < SPINS; i++) {
    cpuRelax();
    if (Atomics.load(v, at) === 0 && (c = Atomics.compareExchange(v, at, 0, 1)) === 0) return;
  }
  if (c !== 2) c = Atomics.exchange(v, at, 2);
  while (c !== 0) {
    Atomics.wait(v, at, 2);
    c = Atomics.exchange(v, at, 2);
  }
}

/** Releases the lock in `v[at]`, waking one sleeper if there may be any. */
export function unlockWord(v: Int32Array, at: number): void {
  if (Atomics.sub(v, at, 1) !== 1) {
    Atomics.store(v, at, 0);
    Atomics.notify(v, at, 1);
  }
}
