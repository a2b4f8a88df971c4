/**
 * A pool's task ring (layout and race-freedom: ring.ts): the main thread writes task records, the
 * workers claim runs of them (the claim protocol, C1..C9, is written down in layout.ts).
 */
import type { Encoded } from '../../memory/codec.js';
import { CorruptMemoryError } from '../../memory/errors.js';
import { Step, stepHook } from '../../memory/step-hook.js';
import { CONSUMED, HDR, HEAD, LEN_MASK, PAD, RECLAIM_EVERY, Ring, TAIL } from './ring.js';

/** The main thread's end of a task ring: the only writer. */
export class TaskRingWriter extends Ring {
  #write = 0;
  #reclaim = 0;
  #published = 0;
  /** Where the next look at consumed records is due, once past rewindAt (RECLAIM_EVERY). */
  #lookAt = 0;

  /** Claims back space behind records that workers have marked CONSUMED (claim C6 in layout.ts). */
  #reclaimSpace(): void {
    const head = Atomics.load(this.ctl, HEAD);
    let r = this.#reclaim;
    while (r !== head) {
      const hdr = Atomics.load(this.i32, (r & this.mask) >> 2);
      if ((hdr & CONSUMED) === 0) break;
      r = (r + (hdr & LEN_MASK)) | 0;
    }
    this.#reclaim = r;
  }

  /**
   * Appends a task record unless the ring lacks room; it becomes visible at the next {@link publish}.
   * A value with buffers (`carriesSabs`) passes their ids (`plen` counts their prefix).
   */
  tryWrite(slot: number, fnId: number, e: Encoded, plen: number, sabIds?: readonly number[]): boolean {
    // Past rewindAt, what workers consumed is looked at now and then, so a rewind is seen to fit.
    if ((this.#write & this.mask) >= this.rewindAt && ((this.#write - this.#lookAt) | 0) >= 0) {
      this.#reclaimSpace();
      this.#lookAt = (this.#write + RECLAIM_EVERY) | 0;
    }
    const used = (this.#write - this.#reclaim) | 0;
    const { pad, len } = this.fit(this.#write, plen, used);
    if (used + pad + len > this.size) {
      this.#reclaimSpace();
      if (((this.#write - this.#reclaim) | 0) + pad + len > this.size) return false;
    }
    // A pad is written unmarked (not CONSUMED): the claimer whose run covers it reads its length
    // after its CAS, so its space is reclaimed only once that claimer marks it, as for a record
    // (claim C5, C6).
    this.#write = this.append(this.#write, pad, len, slot, fnId, e, plen, sabIds);
    return true;
  }

  /** The claim position: records below it are claimed (a worker's HEAD CAS moved past them). */
  head(): number {
    return Atomics.load(this.ctl, HEAD);
  }

  /**
   * Takes back the records below `head` that no worker marked CONSUMED: their claimer died between
   * its HEAD CAS and its marks. Only safe when no live worker is inside a claim (the caller checks
   * each one's CLAIMING word after reading `head`): then nobody else will ever mark them. Each is
   * marked CONSUMED (so space is reclaimed past it) and its slot handed to `orphan` (claim C9).
   */
  recoverOrphans(head: number, orphan: (slot: number) => void): void {
    for (let r = this.#reclaim; r !== head; ) {
      const at = (r & this.mask) >> 2;
      const hdr = Atomics.load(this.i32, at);
      if ((hdr & CONSUMED) === 0) {
        Atomics.store(this.i32, at, hdr | CONSUMED);
        if ((hdr & PAD) === 0) orphan(this.slotAt(r));
      }
      r = (r + (hdr & LEN_MASK)) | 0;
    }
  }

  /** Makes every written record visible to workers; returns whether there was anything new. */
  publish(): boolean {
    // claim C2: the one store that publishes; every record below it was written whole before.
    if (this.#published === this.#write) return false;
    this.#published = this.#write;
    Atomics.store(this.ctl, TAIL, this.#write);
    return true;
  }
}

/** A worker's end of a task ring: one of many readers. */
export class TaskRingReader extends Ring {
  /** Whether a published record is waiting to be claimed. */
  hasWork(): boolean {
    return Atomics.load(this.ctl, HEAD) !== Atomics.load(this.ctl, TAIL);
  }

  /**
   * Claims up to `max` task records and hands each to `take(slot, fnId, value)`, marking it
   * CONSUMED right after it is copied out and `own(slot)` has named the claimer. `claimed(n)` hears
   * the count right after the HEAD CAS, before any copying. Returns how many were claimed.
   */
  claim(
    max: number,
    take: (slot: number, fnId: number, value: unknown) => void,
    claimed: (n: number) => void,
    own: (slot: number) => void,
  ): number {
    const ctl = this.ctl;
    for (;;) {
      const h = Atomics.load(ctl, HEAD);
      const t = Atomics.load(ctl, TAIL);
      if (h === t) return 0;
      if (stepHook !== undefined) stepHook(Step.RingClaimScan);
      let pos = h;
      let n = 0;
      let moved = false;
      while (pos !== t && n < max) {
        const hdr = this.i32[(pos & this.mask) >> 2];
        const len = hdr & LEN_MASK;
        // claim C3: these bytes are ours to read only while HEAD is still h. A length that is impossible,
        // or that runs past TAIL (records below TAIL are published whole), means either they were
        // reused (HEAD moved: others claimed past h and the writer lapped the ring) or the memory is
        // corrupt (HEAD did not move).
        const impossible = len < HDR || (len & 15) !== 0 || len > this.size - (pos & this.mask);
        if (impossible || ((pos + len - h) | 0) > ((t - h) | 0)) {
          if (Atomics.load(ctl, HEAD) !== h) {
            moved = true;
            break;
          }
          this.lengthAt(pos, hdr); // throws CorruptMemoryError when the length itself is impossible
          throw new CorruptMemoryError(`ring record at ${pos & this.mask} (length ${len}) runs past TAIL`);
        }
        if ((hdr & PAD) === 0) n++;
        pos = (pos + len) | 0;
      }
      if (moved) continue; // claim C3: rescan from the new HEAD
      if (stepHook !== undefined) stepHook(Step.RingClaimCas);
      if (Atomics.compareExchange(ctl, HEAD, h, pos) !== h) continue; // claim C4: lost, rescan
      claimed(n);
      if (stepHook !== undefined) stepHook(Step.RingClaimCopy);
      for (let p = h; p !== pos; ) {
        const at = (p & this.mask) >> 2;
        const hdr = this.i32[at];
        const len = hdr & LEN_MASK;
        if ((hdr & PAD) === 0) {
          let value: unknown;
          let failed: unknown;
          try {
            value = this.value(p);
          } catch (err) {
            failed = err;
          }
          const slot = this.slotAt(p);
          const fnId = this.metaAt(p);
          // claim C5: owner first, then CONSUMED: a claimer that dies after the mark has left its
          // name on the slot, one that dies before it has left the record (both recovered by C9).
          own(slot);
          Atomics.store(this.i32, at, hdr | CONSUMED);
          take(slot, failed === undefined ? fnId : -1, failed === undefined ? value : failed);
        } else Atomics.store(this.i32, at, hdr | CONSUMED); // claim C5: a pad too, once passed
        p = (p + len) | 0;
      }
      return n;
    }
  }
}
