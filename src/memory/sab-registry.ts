/**
 * The registry of SharedArrayBuffers that cross to other threads by id ("shared memory crosses
 * once").
 *
 * A SharedArrayBuffer cannot be written into shared memory: it crosses a thread boundary only
 * inside a message. So a sender gives each buffer a number ({@link sabId}, one per buffer for the
 * life of this thread, whoever sends it), sends the buffer itself to each receiver once, by
 * message, and from then on writes only its number where the value's bytes go (a pool's ring
 * records). The receiver keeps what it was sent in a {@link SabTable} and turns numbers back into
 * its own object for the buffer, the same object every time, so shared objects built over it keep
 * their identity across tasks (handle.ts keeps one live object per handle id).
 *
 * The protocol that makes this race-free (a receiver always has a buffer before it decodes a
 * record naming it) belongs to the transport: see the pool's main/sab-shipper.ts.
 */
import { CorruptMemoryError } from './errors.js';

const ids = new WeakMap<SharedArrayBuffer, number>();
let nextId = 1;

/** This thread's number for `sab` (given at first use; never reused while this thread lives). */
export function sabId(sab: SharedArrayBuffer): number {
  let id = ids.get(sab);
  if (id === undefined) {
    id = nextId++;
    ids.set(sab, id);
  }
  return id;
}

/**
 * The buffers one sender shipped to this thread, by the sender's numbers. It holds them strongly
 * until the sender says it forgot them ({@link delete}): the sender does so only once no value it
 * can still send names them.
 */
export class SabTable {
  readonly #byId = new Map<number, SharedArrayBuffer>();
  readonly #idOf = new WeakMap<SharedArrayBuffer, number>();

  add(id: number, sab: SharedArrayBuffer): void {
    this.#byId.set(id, sab);
    this.#idOf.set(sab, id);
  }

  /** Adds each `ids[i]` -> `sabs[i]`; throws CorruptMemoryError on lists that do not pair up. */
  addAll(ids: readonly number[], sabs: readonly SharedArrayBuffer[]): void {
    if (ids.length !== sabs.length) {
      throw new CorruptMemoryError(`${ids.length} shared buffer ids arrived with ${sabs.length} buffers`);
    }
    for (let i = 0; i < ids.length; i++) this.add(ids[i], sabs[i]);
  }

  get(id: number): SharedArrayBuffer | undefined {
    return this.#byId.get(id);
  }

  /** The sender's number for a buffer it shipped here (undefined for any other buffer). */
  idOf(sab: SharedArrayBuffer): number | undefined {
    return this.#idOf.get(sab);
  }

  delete(id: number): void {
    const sab = this.#byId.get(id);
    if (sab === undefined) return;
    this.#byId.delete(id);
    this.#idOf.delete(sab);
  }

  get size(): number {
    return this.#byId.size;
  }
}
