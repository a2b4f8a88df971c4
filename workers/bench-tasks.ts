/**
 * Task functions of the pool benchmark (`bench/pool.ts`). Every library runs exactly these
 * functions: skein, piscina and tinypool load this module directly (named exports); poolifier and
 * workerpool load the thin wrappers `bench-poolifier.ts` and `bench-workerpool.ts`, which register
 * the same functions in the shape those libraries want.
 *
 * The CPU tasks are pure JavaScript integer arithmetic (a multiply-xorshift hash chain), so they
 * use one core each, touch no memory and no libuv thread, and cannot be skipped by the JIT: the
 * result depends on every iteration. Their input is the iteration count, calibrated once by the
 * bench's parent process (see `calibrate` in `bench/pool-scenarios.ts`) and passed to every library
 * unchanged, so each does identical work.
 *
 * @example
 * ```ts
 * const pool = new FixedWorkerPool(2, { filename: new URL('../workers/bench-tasks.js', import.meta.url) });
 * await pool.submit(7, { fn: 'echo' }); // 7
 * await pool.submit(2000, { fn: 'hash' }); // a 32-bit hash after 2000 rounds (~20 µs here)
 * ```
 */

/** The trivial task: returns its input. Measures pure pool overhead. */
export function echo(x: unknown): unknown {
  return x;
}

/**
 * `rounds` rounds of a multiply-xorshift hash chain (FNV prime, murmur-style finalizer step).
 * About 2 ns a round on a 2020s x86 core; the bench calibrates the count rather than trusting that.
 */
export function hash(rounds: number): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < rounds; i++) {
    h = Math.imul(h ^ i, 0x01000193);
    h ^= h >>> 13;
    h = Math.imul(h, 0x5bd1e995);
  }
  return h >>> 0;
}

export default echo;

/** Returns `x.i`: for inputs that carry more than they return (bench/shared-input.ts). */
export function field(x: { i: number }): number {
  return x.i;
}
