/**
 * Reads a stream as runs of whole lines without ever holding it whole, and cuts those runs into
 * batches: a batch is one string of consecutive lines, decoded once, never split into per-line
 * strings here (the worker splits it). Only the unfinished tail of a chunk is carried over.
 */
import { isUtf8 } from 'node:buffer';
import type { Readable } from 'node:stream';

/** `count` consecutive input lines numbered from `first` (1-based), joined by '\n', no final '\n'. */
export interface LineBatch {
  first: number;
  count: number;
  text: string;
  /** The input bytes these lines take, their newlines included (what a progress bar counts done). */
  bytes: number;
  /** The text split into lines, once a failure needed one of them. */
  split?: string[];
  /** The batch is one line that is not valid UTF-8: malformed, whatever decoding it would make of it. */
  notUtf8?: true;
}

/** Line `i` of a batch, as read (without a trailing '\r'). */
export function lineOf(b: LineBatch, i: number): string {
  b.split ??= b.text.split('\n');
  const line = b.split[i];
  return line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line;
}

/** A run of whole lines as read: `buf` holds lines numbered from `first`; every line but maybe the last ends in '\n'. */
export interface LineChunk {
  buf: Buffer;
  first: number;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * Yields the input as runs of whole lines, one per chunk read (one await per chunk, not per line).
 * `onBytes` hears how many bytes have been read so far (for a progress bar). A UTF-8 byte order mark
 * at the very start is dropped: it is not part of the first line (JSON.parse rejects it).
 */
export async function* readChunks(input: Readable, onBytes?: (n: number) => void): AsyncGenerator<LineChunk> {
  let no = 1;
  let bytes = 0;
  // The unfinished line so far, as the pieces read: joined once its '\n' comes (joining at each
  // read made a line spread over k reads cost k times its length).
  let tail: Buffer[] = [];
  let head = true;
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    bytes += buf.length;
    onBytes?.(bytes);
    if (head) {
      // Up to 3 bytes may be needed to tell a BOM, whatever the reads' sizes.
      if (tail.length > 0) buf = Buffer.concat([...tail, buf]);
      tail = [];
      if (buf.length < BOM.length && BOM.subarray(0, buf.length).equals(buf)) {
        if (buf.length > 0) tail.push(buf);
        continue;
      }
      head = false;
      if (buf.subarray(0, BOM.length).equals(BOM)) buf = buf.subarray(BOM.length);
    }
    const end = buf.lastIndexOf(10) + 1;
    if (end === 0) {
      if (buf.length > 0) tail.push(buf);
      continue;
    }
    const whole = tail.length > 0 ? Buffer.concat([...tail, buf.subarray(0, end)]) : buf.subarray(0, end);
    tail = end < buf.length ? [buf.subarray(end)] : [];
    yield { buf: whole, first: no };
    no += countLines(whole);
  }
  if (tail.length > 0) yield { buf: Buffer.concat(tail), first: no };
}

/** Lines in a run of whole lines (its '\n's, plus one for an unterminated last line). */
function countLines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
  return buf.length > 0 && buf[buf.length - 1] !== 10 ? n + 1 : n;
}

/** Cuts a {@link LineChunk} into batches, a batch at a time, each as long as the caller asks. */
export class BatchCutter {
  readonly #buf: Buffer;
  /** Whether every line of the chunk is valid UTF-8 (else each line is checked as it is taken). */
  readonly #utf8: boolean;
  #pos = 0;
  #no: number;
  /** Input bytes of the lines `skip` left out so far. */
  skippedBytes = 0;

  constructor(chunk: LineChunk) {
    this.#buf = chunk.buf;
    this.#utf8 = isUtf8(chunk.buf);
    this.#no = chunk.first;
  }

  /**
   * The next batch of at most `max` lines, or undefined when the chunk is used up. Lines that
   * `skip` names (already done, when resuming) are left out; a batch never spans one, so its lines
   * stay consecutive. A line that is not valid UTF-8 comes as a batch of its own, marked `notUtf8`
   * (decoding would replace its bad bytes and hide that it is malformed).
   */
  take(max: number, skip?: (no: number) => boolean): LineBatch | undefined {
    const buf = this.#buf;
    let start = this.#pos;
    let end = start;
    let count = 0;
    let first = this.#no;
    while (count < max && this.#pos < buf.length) {
      const nl = buf.indexOf(10, this.#pos);
      const lineEnd = nl === -1 ? buf.length : nl;
      if (skip?.(this.#no)) {
        if (count > 0) break;
        this.skippedBytes += Math.min(lineEnd + 1, buf.length) - this.#pos;
        this.#pos = lineEnd + 1;
        this.#no++;
        start = this.#pos;
        first = this.#no;
        continue;
      }
      if (!this.#utf8 && !isUtf8(buf.subarray(this.#pos, lineEnd))) {
        if (count > 0) break;
        const text = buf.toString('utf8', this.#pos, lineEnd);
        const bytes = Math.min(lineEnd + 1, buf.length) - this.#pos;
        this.#pos = lineEnd + 1;
        return { first: this.#no++, count: 1, text, bytes, notUtf8: true };
      }
      end = lineEnd;
      count++;
      this.#pos = lineEnd + 1;
      this.#no++;
    }
    if (count === 0) return undefined;
    return { first, count, text: buf.toString('utf8', start, end), bytes: Math.min(this.#pos, buf.length) - start };
  }
}
