/**
 * Shared memory crosses once: the pool's side of the SharedArrayBuffer registry
 * (memory/sab-registry.ts). A task whose input holds shared memory (a Channel, a Semaphore, a
 * typed array over a SharedArrayBuffer, the buffer itself) rides the rings like any other: its
 * record carries the ids of its buffers, and each buffer is sent to each worker once, by message.
 * Beside the ids, the codec's bytes name each buffer by its index among them; a shared object is
 * its buffer's index, kind, id and config (codec tag PlainShared), and a worker builds and checks it
 * once, then keeps it as long as it keeps the buffer (memory/handle.ts `reviveShared`; S4 ends both).
 *
 * Invariants (cited as S1..S4):
 *
 * S1. Before a record naming buffer B is published, B has been posted to every worker in the pool:
 *     `ship()` runs in `place()` before `tryWrite()`, and records are published later (TAIL store).
 *     A worker that starts later gets every buffer shipped so far in its init message (`forInit()`,
 *     read after the ship: a respawned worker gets the buffers again).
 * S2. A posted message is in the worker's port queue when `postMessage` returns (Node enqueues it
 *     under the port's lock before returning), and the worker pulls its queue synchronously
 *     (`receiveMessageOnPort`). A worker that decodes a record has loaded TAIL after the publish
 *     that followed the post (S1), so if its table lacks an id, pulling its mail finds the buffer:
 *     nothing waits on a round trip, and no record is ever held back for an acknowledgement. An id
 *     still missing after the pull is a corrupt record (CorruptMemoryError for that task alone).
 * S3. A worker writes ids into a result only for buffers that came with that task's own input; the
 *     main thread holds that input (slot table) until it has read the result, so `resolve()`
 *     always finds the buffer. Other results with shared memory still go by message.
 * S4. An id is forgotten (`sab-forget`, the workers drop their tables' hold) only after the main
 *     thread's buffer object was garbage-collected: then no queued or placed task holds it (each
 *     keeps its encoding, buffers included, until its slot is freed, and a slot is freed only
 *     after its record was decoded or recovered), so no record can name it again.
 * Internal to the pool (not exported from the package root).
 */
import { CorruptMemoryError } from '../../memory/errors.js';
import { sabId } from '../../memory/sab-registry.js';
import type { MainMessage } from '../shared/index.js';

export class SabShipper {
  /** Buffers shipped to this pool's workers, by id; weak, so a buffer nobody holds can go (S4). */
  readonly #shipped = new Map<number, WeakRef<SharedArrayBuffer>>();
  readonly #gone = new FinalizationRegistry<number>((id) => this.#forget(id));
  #forgotten: number[] = [];

  /** `post` sends a message to every worker of the pool (started or starting). */
  constructor(private readonly post: (msg: MainMessage) => void) {}

  /** The ids of `sabs`, after posting the ones new to this pool to every worker (S1). */
  ship(sabs: readonly SharedArrayBuffer[]): number[] {
    const ids: number[] = new Array(sabs.length);
    let newIds: number[] | undefined;
    let newSabs: SharedArrayBuffer[] | undefined;
    for (let i = 0; i < sabs.length; i++) {
      const sab = sabs[i];
      const id = sabId(sab);
      ids[i] = id;
      if (this.#shipped.has(id)) continue;
      this.#shipped.set(id, new WeakRef(sab));
      this.#gone.register(sab, id);
      (newIds ??= []).push(id);
      (newSabs ??= []).push(sab);
    }
    if (newIds) this.post({ type: 'sabs', ids: newIds, sabs: newSabs as SharedArrayBuffer[] });
    return ids;
  }

  /** The buffer a result record names (S3). */
  readonly resolve = (id: number): SharedArrayBuffer => {
    const sab = this.#shipped.get(id)?.deref();
    if (!sab) throw new CorruptMemoryError(`a result names shared buffer #${id}, which this pool never shipped`);
    return sab;
  };

  /** Every buffer shipped so far, for a new worker's init (S1). */
  forInit(): { sabIds: number[]; sabs: SharedArrayBuffer[] } {
    const sabIds: number[] = [];
    const sabs: SharedArrayBuffer[] = [];
    for (const [id, ref] of this.#shipped) {
      const sab = ref.deref();
      if (sab) {
        sabIds.push(id);
        sabs.push(sab);
      }
    }
    return { sabIds, sabs };
  }

  /** How many buffers the workers hold for this pool now. */
  get size(): number {
    return this.#shipped.size;
  }

  /** S4: tell the workers, in one message per turn of the event loop. */
  #forget(id: number): void {
    this.#shipped.delete(id);
    if (this.#forgotten.push(id) > 1) return;
    setImmediate(() => {
      const ids = this.#forgotten;
      this.#forgotten = [];
      this.post({ type: 'sab-forget', ids });
    }).unref();
  }
}
