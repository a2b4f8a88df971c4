/**
 * Task inputs encoded once at submit (task-intake.ts), told apart from user objects that travel
 * raw (with a transfer list) and from primitives.
 * Internal (not exported from the package root).
 */
import { type Encoded, Tag } from '../../memory/codec.js';

/**
 * An encoding made at submit. A class of its own, so that telling one apart is an `instanceof`
 * (a WeakSet of them cost about 1 µs per task in GC and hashing); no user value can be one.
 */
class SubmitEncoded implements Encoded {
  tag = Tag.Undefined;
  num = 0;
  bytes: Uint8Array | null = null;
  sabs: SharedArrayBuffer[] | null = null;
}

/** A fresh encoding for one submitted input (fill it with `encode`). */
export function newSubmitEncoded(): Encoded {
  return new SubmitEncoded();
}

export function isEncoded(x: unknown): x is Encoded {
  return x instanceof SubmitEncoded;
}

