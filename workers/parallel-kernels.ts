/**
 * Loop bodies of the data-parallel benchmark (`bench/parallel.ts`). Every variant runs exactly this
 * loop: skein's `parallelFor` calls `kernel` on chunks of the shared array, the single-thread
 * baseline calls it once over the whole array, and the hand-written piscina version calls it
 * through `parallel-piscina.ts` on a copied, transferred chunk.
 *
 * Each element goes through `reps` rounds of `x = sqrt(x * x + 1)` (a dependent chain the JIT cannot
 * skip). With `ramp`, element i does about `2 * reps * i / n` rounds instead: the same total work,
 * but a chunk's cost grows linearly with its index (the uneven case).
 *
 * @example
 * ```ts
 * await parallelFor(a, 'kernel', { pool, arg: { reps: 1, ramp: false, n: a.length, base: 0 } });
 * ```
 */
/** The loop's parameters: rounds per element, uneven or not, the whole array's length, and the chunk's first index. */
export interface KernelArg {
  reps: number;
  ramp: boolean;
  n: number;
  base: number;
}

/** The loop over indices start..end-1 of the whole array; `a` holds the indices from `o.base` on. */
export function kernel(start: number, end: number, a: Float64Array, o: KernelArg): void {
  const { reps, ramp, n, base } = o;
  // Both cases run the same instructions: rounds = floor(first + slope * i).
  const slope = ramp ? (2 * reps) / n : 0;
  const first = ramp ? 0.5 : reps;
  for (let i = start; i < end; i++) {
    let x = a[i - base];
    const r = Math.floor(first + slope * i);
    for (let k = 0; k < r; k++) x = Math.sqrt(x * x + 1);
    a[i - base] = x;
  }
}
