import { cpuRelax } from '../spin.js';

const local = new Int32Array(1);

/**
 * A short pause between polls of shared memory (tens of ns): a poller that re-reads the other
 * side's line back to back takes it away from the writer on every store. Atomics.pause where the
 * runtime has it (Node 24+); otherwise loads of a word no other thread touches, which the JIT
 * cannot drop.
 */
export function pause(): void {
  for (let i = 0; i < 24; i++) {
    Atomics.load(local, 0);
    cpuRelax();
  }
}
