/**
 * Writes finished items: outputs to the output stream, failures to the errors stream, and then a
 * job-log record naming those lines (joblog.ts, invariant 2: the record only after the bytes it
 * covers are flushed). Items are gathered and written in chunks, one flush at a time.
 */
import type { Writable } from 'node:stream';
import { jobLogRecord } from './joblog.js';

/** A failed or malformed line as it is written to the errors file. */
export interface ErrorRecord {
  line: number;
  input: unknown;
  stage: string | null;
  error: { class: string; message: string };
  attempts?: number;
}

/** Where a BatchWriter writes, and the lengths the files already have (when resuming). */
export interface WriterTargets {
  out: Writable;
  err: Writable;
  log?: Writable;
  outBytes?: number;
  errBytes?: number;
  /** Called before outputs are written (the bar clears its line when they go to its terminal). */
  beforeOutWrite?: () => void;
  /** The outputs come in input order (--ordered): the job log's records say so (joblog.ts). */
  ordered?: boolean;
}

const CHUNK = 256 * 1024;

function write(s: Writable, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    s.write(text, (err) => (err ? reject(err) : resolve()));
  });
}

export class BatchWriter {
  readonly #t: WriterTargets;
  #out: string[] = [];
  #err: string[] = [];
  /** Finished input lines as inclusive ranges [a, b, c, d, ...] (blank lines may be among them). */
  #ranges: number[] = [];
  #lines = 0;
  #pending = 0;
  #outBytes: number;
  #errBytes: number;
  #flushing: Promise<void> = Promise.resolve();
  #failed: unknown;

  constructor(targets: WriterTargets) {
    this.#t = targets;
    this.#outBytes = targets.outBytes ?? 0;
    this.#errBytes = targets.errBytes ?? 0;
  }

  /** Output lines, each ending in '\n' (a whole batch's at once). */
  out(text: string): void {
    if (text === '') return;
    this.#out.push(text);
    this.#pending += text.length;
  }

  /**
   * A failed line's record. `text`, the line as read, stands in for `rec.input` when that cannot
   * be written as JSON: JSON.parse reads any depth, JSON.stringify overflows its stack on a value
   * nested a few thousand deep (and the uncaught RangeError crashed the command).
   */
  fail(rec: ErrorRecord, text?: string): void {
    let json: string;
    try {
      json = JSON.stringify(rec);
    } catch (err) {
      if (text === undefined || typeof rec.input === 'string') throw err;
      json = JSON.stringify({ ...rec, input: text });
    }
    const s = `${json}\n`;
    this.#err.push(s);
    this.#pending += s.length;
  }

  /**
   * Lines first..first+count-1 are finished: the job log names them in the record of the flush
   * that writes what was given so far (so give their outputs and failures first).
   */
  finished(first: number, count: number): void {
    const r = this.#ranges;
    if (r.length > 0 && r[r.length - 1] + 1 === first) r[r.length - 1] = first + count - 1;
    else r.push(first, first + count - 1);
    this.#lines += count;
  }

  /** Whether enough is gathered that the caller should flush (and wait for it) before going on. */
  get full(): boolean {
    return this.#pending >= CHUNK || this.#ranges.length >= 2048;
  }

  /** Writes everything gathered so far; resolves once it (and every earlier flush) is written. */
  flush(): Promise<void> {
    if (this.#lines === 0) return this.#flushing;
    const out = this.#out.join('');
    const err = this.#err.join('');
    const ranges = this.#ranges;
    this.#out = [];
    this.#err = [];
    this.#ranges = [];
    this.#lines = 0;
    this.#pending = 0;
    this.#flushing = this.#flushing.then(async () => {
      if (this.#failed) throw this.#failed;
      try {
        const writes: Promise<void>[] = [];
        if (out) {
          this.#t.beforeOutWrite?.();
          writes.push(write(this.#t.out, out));
        }
        if (err) {
          writes.push(write(this.#t.err, err));
        }
        await Promise.all(writes);
        this.#outBytes += Buffer.byteLength(out);
        this.#errBytes += Buffer.byteLength(err);
        if (this.#t.log) await write(this.#t.log, jobLogRecord(ranges, this.#outBytes, this.#errBytes, this.#t.ordered));
      } catch (e) {
        this.#failed = e;
        throw e;
      }
    });
    return this.#flushing;
  }
}
