/** Walking an array's elements at the cost of its elements, not of its length. */

/**
 * Calls `f` with each element index of `a` in order, holes skipped: by index while the array is
 * dense, and from its first hole on by its own keys, so that a sparse array of length 2^32 - 1
 * costs its elements, not its length (structured clone writes such an array sparse). Stops when
 * `f` returns true; returns whether it did.
 */
export function someIndex(a: readonly unknown[], f: (i: number) => boolean): boolean {
  const n = a.length;
  for (let i = 0; i < n; i++) {
    if (i in a) {
      if (f(i)) return true;
      continue;
    }
    for (const k of Object.keys(a)) {
      const j = Number(k);
      // own keys list the indexes first, in order; the named properties after them are not elements
      if (!(String(j) === k && j < n)) break;
      if (j > i && f(j)) return true;
    }
    return false;
  }
  return false;
}
