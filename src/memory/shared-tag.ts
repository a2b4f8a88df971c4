/**
 * The tag block every shared object's SharedArrayBuffer carries, so that memory arriving from
 * anywhere is recognised before it is used: `X.from()` of a foreign buffer, a buffer of another kind
 * or size, or a damaged one fails with a named error instead of a `RangeError` deep inside a later
 * call (or, worse, a silent misreading of the layout).
 *
 * Layout: the last {@link TAG_BYTES} bytes of the buffer, after the object's own layout (its body),
 * as four Int32 slots:
 *
 *   +0 MAGIC   0x534b4e31 ('SKN1'): this is a skein shared object
 *   +1 KIND    the kind's tag (one number per class, see shared-object.ts)
 *   +2 LAYOUT  the kind's layout version: bumped whenever the body's layout changes
 *   +3 BYTES   the whole buffer's byteLength
 *
 * It sits at the end, not the start, so every body keeps its offsets from 0 and the 64-byte line
 * alignment its layout was designed around (SharedArrayBuffers are allocated page-aligned). Bodies
 * are padded to 8 bytes, so the block and any BigInt64/Float64 view of the body stay aligned.
 *
 * Ordering: the creating thread writes the block once, before the buffer is reachable from any other
 * thread (before the constructor returns), and nobody writes it again. Every other thread gets the
 * buffer through postMessage (or a channel/pool transport built on it), which happens-after those
 * writes, so plain reads see them.
 */
import { CorruptMemoryError, InvalidArgumentError } from './errors.js';

/** Bytes of the tag block. */
export const TAG_BYTES = 16;
const MAGIC = 0x534b4e31;

/** What the tag block of a kind's memory must say. */
export interface TagSpec {
  readonly name: string;
  readonly tag: number;
  readonly layout: number;
}

/** Bytes of a shared object's buffer whose body takes `bodyBytes`: padded to 8, plus the tag block. */
export function taggedBytes(bodyBytes: number): number {
  return Math.ceil(bodyBytes / 8) * 8 + TAG_BYTES;
}

/** Allocates a tagged buffer for a body of `bodyBytes` (zeroed) and writes its tag block. */
export function allocateTagged(spec: TagSpec, bodyBytes: number): SharedArrayBuffer {
  const bytes = taggedBytes(bodyBytes);
  const sab = new SharedArrayBuffer(bytes);
  const t = new Int32Array(sab, bytes - TAG_BYTES, 4);
  t[0] = MAGIC;
  t[1] = spec.tag;
  t[2] = spec.layout;
  t[3] = bytes;
  return sab;
}

/** Names of the kinds by tag, for the error that names what a buffer of another kind holds. */
const namesByTag = new Map<number, string>();

/** Records a kind's tag; a second kind with the same tag is a programming error. */
export function claimTag(spec: TagSpec): void {
  const had = namesByTag.get(spec.tag);
  if (had !== undefined && had !== spec.name) {
    throw new InvalidArgumentError(`shared kind ${spec.name} takes tag ${spec.tag}, which ${had} has`);
  }
  namesByTag.set(spec.tag, spec.name);
}

/**
 * Checks a buffer's tag block against `spec` and `expectedBytes` (what the handle's configuration
 * says the buffer holds). Not skein memory, another kind, another layout version, or another size
 * than the configuration needs: InvalidArgumentError (the caller passed the wrong thing). A block
 * that names this kind but contradicts the buffer: CorruptMemoryError.
 */
export function checkTagged(spec: TagSpec, sab: SharedArrayBuffer, expectedBytes: number): void {
  const n = sab.byteLength;
  const from = `${spec.name}.from()`;
  if (n < TAG_BYTES || n % 8 !== 0) {
    throw new InvalidArgumentError(`${from} was given ${n} bytes of memory that no skein shared object has`);
  }
  const t = new Int32Array(sab, n - TAG_BYTES, 4);
  if (t[0] !== MAGIC) {
    throw new InvalidArgumentError(`${from} was given memory that is not a skein shared object`);
  }
  if (t[1] !== spec.tag) {
    const other = namesByTag.get(t[1]);
    throw new InvalidArgumentError(
      `${from} was given the memory of ${other === undefined ? `an unknown kind (tag ${t[1]})` : `a ${other}`}`,
    );
  }
  if (t[2] !== spec.layout) {
    throw new InvalidArgumentError(
      `${from} was given memory of layout version ${t[2]}; this skein reads version ${spec.layout}`,
    );
  }
  if (t[3] !== n) {
    throw new CorruptMemoryError(`${spec.name} memory says it has ${t[3]} bytes but has ${n}`);
  }
  if (n !== expectedBytes) {
    throw new InvalidArgumentError(
      `${from} was given ${n} bytes of memory where its configuration needs ${expectedBytes}`,
    );
  }
}
