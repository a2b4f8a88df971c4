/**
 * The progress bar of `skein run` and the demo, drawn by cli-progress on stderr, and only when
 * stderr is a terminal: piped or redirected, the command prints nothing but its results.
 */
import type cliProgress from 'cli-progress';
import { type AboveBar, CLEAR_LINE, writeAboveBar } from './above-bar.js';

type CliProgress = typeof cliProgress;

/** What the bar shows: `value` of the total (bytes read, items done) drives the bar and the ETA. */
export interface ProgressState {
  items: number;
  failed: number;
  value: number;
}

export class Progress {
  readonly #bar: cliProgress.SingleBar | undefined;
  /** While the bar is drawn: what else is written to stderr comes out above it. */
  #above: AboveBar | undefined;
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
    const above = writeAboveBar(process.stderr, () => this.#bar?.render());
    this.#above = above;
    // The bar draws with stderr's own write (cli-progress's terminal.js uses only write, isTTY and
    // columns), less the cursor save (ESC 7) at its start and restore (ESC 8) at its stop: that is
    // the row it started on, which the lines written above it have moved it off (on a screen not
    // yet scrolling, the restore put what follows the run back up there, over those lines).
    const stream = {
      get isTTY() {
        return above.raw.isTTY;
      },
      get columns() {
        return above.raw.columns;
      },
      write: (s: string) => s === '\x1b7' || s === '\x1b8' || above.raw.write(s),
    };
    this.#bar = new cliProgress.SingleBar(
      // forceRedraw: a bar cleared for a line written above it is drawn again though its text has
      // not changed.
      { format, formatTime, stream: stream as unknown as NodeJS.WritableStream, hideCursor: true, clearOnComplete: false, etaBuffer: 50, fps: 8, forceRedraw: true },
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

  /**
   * Clears the bar's line so that output to another stream on the same terminal (results on
   * stdout) starts on a clean line; the bar redraws. (What goes to stderr comes out above it.)
   */
  clearLine(): void {
    this.#above?.raw.write(CLEAR_LINE);
  }

  stop(): void {
    this.#above?.restore();
    this.#above = undefined;
    this.#bar?.stop();
  }
}
