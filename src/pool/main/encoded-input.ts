/**
 * Task inputs encoded once at submit (task-intake.ts), told apart from user objects that travel
 * raw (with a transfer list) and from primitives.
 * Internal (not exported from the package root).
 */
import { decode, type Encoded, Tag } from '../../memory/codec.js';

const encodedSet = new WeakSet<object>();

/** Marks `e` as an encoding made at submit. */
export function markEncoded(e: Encoded): Encoded {
  encodedSet.add(e);
  return e;
}

export function isEncoded(x: unknown): x is Encoded {
  return typeof x === 'object' && x !== null && encodedSet.has(x);
}

/** The value back (for a task that must go by message after all). */
export function decodeEncoded(e: Encoded): unknown {
  if (e.tag === Tag.Int32 || e.tag === Tag.Float64) return e.num;
  return decode(e.tag, e.bytes ? e.bytes.slice() : new Uint8Array(0), e.sabs);
}
