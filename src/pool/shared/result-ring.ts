/**
 * A worker's result ring (layout and race-freedom: ring.ts): that worker writes result records, the
 * main thread reads them in order.
 */
import type { Encoded } from '../../memory/codec.js';
import { HEAD, PAD, Ring, TAIL } from './ring.js';

/** A worker's end of its result ring: the only writer. */
export class ResultRingWriter extends Ring {
  #write = 0;

  /** Appends a result record unless the ring lacks room (the main thread has not read enough yet). */
  tryWrite(slot: number, status: number, e: Encoded, plen: number, sabIds?: readonly number[]): boolean {
    const used = (this.#write - Atomics.load(this.ctl, HEAD)) | 0;
    const { pad, len } = this.fit(this.#write, plen, used);
    if (used + pad + len > this.size) return false;
    this.#write = this.append(this.#write, pad, len, slot, status, e, plen, sabIds);
    return true;
  }

  /** Publishes what was written; returns whether there was anything new. */
  publish(): boolean {
    if (Atomics.load(this.ctl, TAIL) === this.#write) return false;
    Atomics.store(this.ctl, TAIL, this.#write);
    return true;
  }
}

/** The main thread's end of one worker's result ring. */
export class ResultRingReader extends Ring {
  /** Empties the ring for a new writer (its old writer has exited, and its records were drained). */
  reset(): void {
    Atomics.store(this.ctl, HEAD, 0);
    Atomics.store(this.ctl, TAIL, 0);
  }

  hasResults(): boolean {
    return Atomics.load(this.ctl, HEAD) !== Atomics.load(this.ctl, TAIL);
  }

  /**
   * Hands every published result to `settle(slot, status, value, error)` and frees their space.
   * A record whose value cannot be decoded is settled with the decode error instead.
   */
  drain(settle: (slot: number, status: number, value: unknown, decodeError: unknown) => void): number {
    const ctl = this.ctl;
    const t = Atomics.load(ctl, TAIL);
    let h = Atomics.load(ctl, HEAD);
    let n = 0;
    while (h !== t) {
      const hdr = this.i32[(h & this.mask) >> 2];
      const len = this.lengthAt(h, hdr);
      if ((hdr & PAD) === 0) {
        let value: unknown;
        let failed: unknown;
        try {
          value = this.value(h);
        } catch (err) {
          failed = err;
        }
        settle(this.slotAt(h), this.metaAt(h), value, failed);
        n++;
      }
      h = (h + len) | 0;
    }
    Atomics.store(ctl, HEAD, h);
    return n;
  }
}
