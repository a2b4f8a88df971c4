/**
 * A pipeline run's outputs on their way to the consumer: in input order (an output waits for the
 * ones before it) or as they finish. An input that left no output (dropped by a filter, or a dead
 * letter) is emitted as {@link SKIP}: it holds its place in the order, then is counted out.
 */
import { Fifo } from '../../memory/fifo.js';

/** What an input that leaves no output emits. */
export const SKIP: unique symbol = Symbol('skip');

export class RunOutput<O> {
  readonly #ready = new Fifo<O>();
  /** Finished out of order, by input sequence number (ordered runs only). */
  readonly #early = new Map<number, unknown>();
  #next = 0;
  readonly #ordered: boolean;
  readonly #skipped: () => void;

  /** `ordered`: outputs in input order; `skipped` is called once for each SKIP as it comes due. */
  constructor(ordered: boolean, skipped: () => void) {
    this.#ordered = ordered;
    this.#skipped = skipped;
  }

  /** Input `seq` finished with `v` (an output, or SKIP). */
  emit(seq: number, v: unknown): void {
    if (!this.#ordered) {
      this.#due(v);
      return;
    }
    if (seq === this.#next && this.#early.size === 0) {
      // Due now, nothing held: straight out (a Map entry per item cost ~100 B of garbage on Node 20).
      this.#next++;
      this.#due(v);
      return;
    }
    this.#early.set(seq, v);
    while (this.#early.has(this.#next)) {
      const w = this.#early.get(this.#next);
      this.#early.delete(this.#next++);
      this.#due(w);
    }
  }

  /** An output (or SKIP) whose turn has come. */
  #due(v: unknown): void {
    if (v === SKIP) this.#skipped();
    else this.#ready.push(v as O);
  }

  /** Outputs the consumer can take now. */
  get ready(): number {
    return this.#ready.length;
  }

  /** Whether finished inputs wait for earlier ones. */
  get waiting(): boolean {
    return this.#early.size > 0;
  }

  take(): O {
    return this.#ready.shift();
  }

  /** Drops every output not taken yet (the consumer let go of the run: none is handed out later). */
  discard(): void {
    this.#ready.clear();
    this.#early.clear();
  }
}
