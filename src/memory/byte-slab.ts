/**
 * Small copies that a caller keeps, carved from a shared slab as Buffer.allocUnsafe does from its
 * pool. V8 keeps a typed array of up to 64 bytes inside the heap, and gives a bigger one a buffer
 * of its own outside it, about 0.5 us each (a plain `slice` of 74 bytes costs 8x one of 64). A slab
 * lives while any copy in it does, so it is small: 8 KiB, Node's pool size; copies above 1 KiB, and
 * those of 64 bytes or less, are plain slices.
 */
const SLAB = 8192;
const SLAB_MAX = 1024;
let slab = new Uint8Array(SLAB);
let at = 0;

/** A copy of `src`'s first `n` bytes that the caller may keep (it may share its buffer with others). */
export function copyBytes(src: Uint8Array, n: number): Uint8Array {
  if (n <= 64 || n > SLAB_MAX) return src.slice(0, n);
  if (at + n > SLAB) {
    slab = new Uint8Array(SLAB);
    at = 0;
  }
  const copy = slab.subarray(at, at + n);
  copy.set(src.subarray(0, n));
  at = (at + n + 7) & ~7; // copies stay 8-aligned
  return copy;
}
