/**
 * Bounded spinning before a thread sleeps.
 *
 * Measured on a 2-core machine: a worker-to-worker Atomics round trip takes 13.6 µs when the waiter
 * sleeps at once, 1.5 µs when it first spins up to 100 loads. So waiters spin a little, never without
 * bound, and use `Atomics.pause` (Node 24+) where the runtime has it to be kind to the sibling
 * hyper-thread. It is feature-detected: Node 20 and 22 lack it.
 *
 * On one CPU (a container limited to one, or a process pinned with `taskset`) a spinning thread
 * only delays the thread it waits for, so there nothing spins at all.
 */
import { availableCores } from './cores.js';

/** Whether this process may run two threads at once (a CPU quota counted): spinning can only pay off if so. */
export const SPIN_PAYS = availableCores() > 1;

const atomicsPause: ((n?: number) => void) | undefined = (
  Atomics as unknown as { pause?: (n?: number) => void }
).pause;

/** Spins a worker thread does before it blocks in `Atomics.wait`. */
export const WORKER_SPIN = SPIN_PAYS ? 2000 : 0;
/**
 * Microseconds an idle pool worker spins before it sleeps. Time, not a count: 2000 loads take 12 µs
 * on Node 20 here and 59 µs with `Atomics.pause` on Node 24. 50 µs outlasts the main thread's
 * turnaround between one result and the next submit, so a sequential caller finds a worker awake.
 */
export const WORKER_IDLE_SPIN_MICROS = SPIN_PAYS ? 50 : 0;
/** Spins the main thread does before it yields to `Atomics.waitAsync`: the event loop is not ours to hold. */
export const MAIN_SPIN = 0;

/** One polite iteration of a spin loop. */
export const cpuRelax: () => void = atomicsPause ? () => atomicsPause(1) : () => {};

/**
 * Spins at most `limit` times while `view[index] === expected`; returns true when the value changed.
 */
export function spinWhileEqual(view: Int32Array, index: number, expected: number, limit: number): boolean {
  for (let i = 0; i < limit; i++) {
    if (Atomics.load(view, index) !== expected) return true;
    cpuRelax();
  }
  return Atomics.load(view, index) !== expected;
}

/**
 * Spins at most `micros` microseconds (clock read every 64 loads) while `view[index] === expected`;
 * returns true when the value changed. For idle spins that must outlast another thread's turnaround,
 * whatever one load or `Atomics.pause` costs on this CPU.
 */
export function spinWhileEqualFor(view: Int32Array, index: number, expected: number, micros: number): boolean {
  const until = performance.now() + micros / 1000;
  // 64 loads take at least ~0.1 µs: the round cap bounds the spin even if the clock stands still.
  for (let rounds = micros * 10; rounds > 0; rounds--) {
    for (let i = 0; i < 64; i++) {
      if (Atomics.load(view, index) !== expected) return true;
      cpuRelax();
    }
    if (performance.now() >= until) break;
  }
  return Atomics.load(view, index) !== expected;
}
