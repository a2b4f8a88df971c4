/**
 * How many lines `skein run` puts in one batch (one task). Big enough that the per-task cost (a
 * message each way, a promise, a write) is paid rarely; small enough that every worker gets work at
 * once and the last batches end together. It aims at TARGET_MS of one worker's work per batch, from
 * the rate at which lines come back (lines per ms over all workers, over spans of SPAN_MS or more).
 * The first batches are small, so that every worker starts at once and the rate is soon known.
 */
const FIRST = 8;
const MIN = 4;
const MAX = 4096;
// 20 ms: on the 20k-line bench (~160 us a line), batches of ~10 ms cost the process 0.15 s more CPU
// than ~25 ms ones (each task's messages, wake-ups and promises, in the main thread and the workers);
// what a bigger batch risks is the last one: at most one batch per worker ends after the others.
const TARGET_MS = 20;
const SPAN_MS = 20;

export class BatchSizer {
  readonly #fixed: number | undefined;
  readonly #workers: number;
  /** Lines per ms over all workers, a moving average (NaN until one span has passed). */
  #rate = NaN;
  #spanStart = NaN;
  #spanLines = 0;

  /** @param fixed a batch size that never changes (1 with --timeout or --rate: both are per line). */
  constructor(workers: number, fixed?: number) {
    this.#workers = workers;
    this.#fixed = fixed;
  }

  /** Lines for the next batch. */
  get size(): number {
    if (this.#fixed !== undefined) return this.#fixed;
    if (Number.isNaN(this.#rate)) return FIRST;
    return Math.max(MIN, Math.min(MAX, Math.round((this.#rate / this.#workers) * TARGET_MS)));
  }

  /** A batch of `lines` came back at `now` (performance.now()). */
  done(lines: number, now: number): void {
    if (Number.isNaN(this.#spanStart)) {
      // The first result opens the first span (the time before it is the workers' start-up).
      this.#spanStart = now;
      return;
    }
    this.#spanLines += lines;
    const ms = now - this.#spanStart;
    if (ms < SPAN_MS) return;
    const rate = this.#spanLines / ms;
    this.#rate = Number.isNaN(this.#rate) ? rate : this.#rate * 0.7 + rate * 0.3;
    this.#spanStart = now;
    this.#spanLines = 0;
  }
}
