/**
 * The job log that lets `skein run --resume` continue a stopped batch without redoing or losing a
 * line (after GNU parallel's `--joblog`/`--resume`).
 *
 * Each record is one JSON line written only after the output and errors it covers are flushed:
 *   { "r": [a, b, c, d, ...], "o": outBytes, "e": errBytes }
 * `r` lists the input lines finished in this flush as inclusive ranges a..b, c..d; `o` and `e` are
 * the output and errors files' lengths once those lines were written. A run with --ordered adds
 * "ordered": true: its outputs are in input order, and the lines it names run from the first with
 * no line left out (run.ts writes nothing past a line it did not finish when there is a log), so
 * `--ordered --resume` may append the lines left and keep the whole output in input order. So on
 * resume:
 *  1. a line is done iff a complete record names it; a torn last record is dropped;
 *  2. output and errors are cut back to the last record's `o` and `e`: bytes written after it
 *     belong to lines no record names, which are run again; so every line ends up in the output
 *     or the errors exactly once across the runs, even after a kill between the two writes.
 */
import { existsSync, readFileSync, statSync, truncateSync } from 'node:fs';

/** The input lines a job log says are finished, as a growable bitmap. */
export class DoneLines {
  #bits = new Uint8Array(1024);
  count = 0;
  /** The highest line number added (0 for none): lines 1..max are all done iff max === count. */
  max = 0;

  add(no: number): void {
    const byte = no >>> 3;
    if (byte >= this.#bits.length) {
      const grown = new Uint8Array(Math.max(byte + 1, this.#bits.length * 2));
      grown.set(this.#bits);
      this.#bits = grown;
    }
    const mask = 1 << (no & 7);
    if ((this.#bits[byte] & mask) === 0) {
      this.#bits[byte] |= mask;
      this.count++;
      if (no > this.max) this.max = no;
    }
  }

  has(no: number): boolean {
    const byte = no >>> 3;
    return byte < this.#bits.length && (this.#bits[byte] & (1 << (no & 7))) !== 0;
  }
}

/** What a job log holds: the finished lines and where output and errors end. */
export interface JobLogState {
  done: DoneLines;
  outBytes: number;
  errBytes: number;
  /** Whether every record was written by a run with --ordered (false for a log with none). */
  ordered: boolean;
}

/**
 * Inclusive ranges [a, b, c, d, ...] (in any order, possibly touching) sorted and merged:
 * [7, 7, 1, 3, 4, 5] -> [1, 5, 7, 7].
 */
export function mergeRanges(pairs: readonly number[]): number[] {
  const order: number[] = [];
  for (let i = 0; i + 1 < pairs.length; i += 2) order.push(i);
  order.sort((x, y) => pairs[x] - pairs[y]);
  const r: number[] = [];
  for (const i of order) {
    const a = pairs[i];
    const b = pairs[i + 1];
    if (r.length > 0 && r[r.length - 1] + 1 >= a) r[r.length - 1] = Math.max(r[r.length - 1], b);
    else r.push(a, b);
  }
  return r;
}

/**
 * One job-log record (with its newline) for the lines in `ranges`, finished once the files reached
 * these lengths; `ordered` by a run with --ordered.
 */
export function jobLogRecord(ranges: readonly number[], outBytes: number, errBytes: number, ordered = false): string {
  const rec = { r: mergeRanges(ranges), o: outBytes, e: errBytes };
  return `${JSON.stringify(ordered ? { ...rec, ordered: true } : rec)}\n`;
}

/**
 * Reads the job log at `path` (invariant 1) and cuts it back to its last complete record. A log
 * that does not exist reads as nothing done.
 */
export function readJobLog(path: string): JobLogState {
  const done = new DoneLines();
  const state: JobLogState = { done, outBytes: 0, errBytes: 0, ordered: false };
  let records = 0;
  let ordered = 0;
  if (!existsSync(path)) return state;
  const text = readFileSync(path, 'utf8');
  const end = text.lastIndexOf('\n') + 1;
  for (const row of text.slice(0, end).split('\n')) {
    if (row === '') continue;
    let rec: { r?: unknown; o?: unknown; e?: unknown; ordered?: unknown };
    try {
      rec = JSON.parse(row) as typeof rec;
    } catch {
      continue;
    }
    if (!Array.isArray(rec.r) || typeof rec.o !== 'number' || typeof rec.e !== 'number') continue;
    const r = rec.r as number[];
    for (let i = 0; i + 1 < r.length; i += 2) for (let n = r[i]; n <= r[i + 1]; n++) done.add(n);
    state.outBytes = rec.o;
    state.errBytes = rec.e;
    records++;
    if (rec.ordered === true) ordered++;
  }
  state.ordered = records > 0 && ordered === records;
  if (Buffer.byteLength(text) !== Buffer.byteLength(text.slice(0, end))) truncateSync(path, Buffer.byteLength(text.slice(0, end)));
  return state;
}

/** Cuts a file back to `length` bytes (invariant 2); a missing file is left missing. */
export function cutBack(path: string, length: number): void {
  if (existsSync(path) && statSync(path).size > length) truncateSync(path, length);
}
