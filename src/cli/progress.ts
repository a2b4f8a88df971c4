/**
 * The progress bar of `skein run` and the demo, drawn by cli-progress on stderr, and only when
 * stderr is a terminal: piped or redirected, the command prints nothing but its results.
 */
import type cliProgress from 'cli-progress';

type CliProgress = typeof cliProgress;

/** What the bar shows: `value` of the total (bytes read, items done) drives the bar and the ETA. */
export interface ProgressState {
  items: number;
  failed: number;
  value: number;
}

export class Progress {
  readonly #bar: cliProgress.SingleBar | undefined;
  readonly #t0 = performance.now();
  readonly #sized: boolean;

  /**
   * Starts a bar (cli-progress is loaded only when one is drawn: it is not on a piped run's start-up path).
   * @param total what `value` counts up to (the input's size in bytes, or the items): a bar and an
   *   ETA; undefined when unknown (stdin): a counter and a rate.
   * @param enabled defaults to whether stderr is a terminal.
   */
  static async start(total: number | undefined, enabled = process.stderr.isTTY === true, label = ''): Promise<Progress> {
    const lib = enabled ? (await import('cli-progress')).default : undefined;
    return new Progress(total, lib, label);
  }

  private constructor(total: number | undefined, cliProgress: CliProgress | undefined, label: string) {
    this.#sized = total !== undefined && total > 0;
    if (!cliProgress) return;
    const format = this.#sized
      ? `${label}{bar} {percentage}% | {items} items | {rate}/s | {failed} failed | ETA {eta_formatted}`
      : `${label}{items} items | {rate}/s | {failed} failed | {duration_formatted}`;
    // An ETA that cli-progress cannot tell (nothing done yet, a stall) is 'INF' or 'NULL' to it, which
    // its time format cut to "NFs" / "LLs" on the bar: shown as "--" instead.
    const time = cliProgress.Format.TimeFormat;
    const formatTime = (t: unknown, o: cliProgress.Options, round: number): string =>
      typeof t === 'number' ? time(t, o, round) : '--';
    this.#bar = new cliProgress.SingleBar(
      { format, formatTime, stream: process.stderr, hideCursor: true, clearOnComplete: false, etaBuffer: 50, fps: 8 },
      cliProgress.Presets.shades_classic,
    );
    this.#bar.start(this.#sized ? (total as number) : 1, 0, { items: 0, rate: 0, failed: 0 });
  }

  get active(): boolean {
    return this.#bar !== undefined;
  }

  update(s: ProgressState): void {
    if (!this.#bar) return;
    const secs = (performance.now() - this.#t0) / 1000;
    const rate = secs > 0 ? Math.round(s.items / secs) : 0;
    this.#bar.update(this.#sized ? s.value : 0, { items: s.items, rate, failed: s.failed });
  }

  /** Clears the bar's line so that other stderr output starts on a clean line (the bar redraws). */
  clearLine(): void {
    if (this.#bar) process.stderr.write('\r\x1b[K');
  }

  stop(): void {
    this.#bar?.stop();
  }
}
