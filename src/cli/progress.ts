/**
 * The progress bar of `skein run` and the demo, drawn by cli-progress on stderr, and only when
 * stderr is a terminal: piped or redirected, the command prints nothing but its results.
 */
import cliProgress from 'cli-progress';

/** What the bar shows. `bytes` of `totalBytes` drive the bar and ETA when the input size is known. */
export interface ProgressState {
  items: number;
  failed: number;
  bytes: number;
}

export class Progress {
  readonly #bar: cliProgress.SingleBar | undefined;
  readonly #t0 = performance.now();
  readonly #sized: boolean;

  /**
   * @param totalBytes the input's size when it is a file (a bar and an ETA), else undefined
   *   (a counter and a rate).
   * @param enabled defaults to whether stderr is a terminal.
   */
  constructor(totalBytes: number | undefined, enabled = process.stderr.isTTY === true, label = '') {
    this.#sized = totalBytes !== undefined && totalBytes > 0;
    if (!enabled) return;
    const format = this.#sized
      ? `${label}{bar} {percentage}% | {items} items | {rate}/s | {failed} failed | ETA {eta_formatted}`
      : `${label}{items} items | {rate}/s | {failed} failed | {duration_formatted}`;
    this.#bar = new cliProgress.SingleBar(
      { format, stream: process.stderr, hideCursor: true, clearOnComplete: false, etaBuffer: 50, fps: 8 },
      cliProgress.Presets.shades_classic,
    );
    this.#bar.start(this.#sized ? (totalBytes as number) : 1, 0, { items: 0, rate: 0, failed: 0 });
  }

  get active(): boolean {
    return this.#bar !== undefined;
  }

  update(s: ProgressState): void {
    if (!this.#bar) return;
    const secs = (performance.now() - this.#t0) / 1000;
    const rate = secs > 0 ? Math.round(s.items / secs) : 0;
    this.#bar.update(this.#sized ? s.bytes : 0, { items: s.items, rate, failed: s.failed });
  }

  /** Clears the bar's line so that other stderr output starts on a clean line (the bar redraws). */
  clearLine(): void {
    if (this.#bar) process.stderr.write('\r\x1b[K');
  }

  stop(): void {
    this.#bar?.stop();
  }
}
