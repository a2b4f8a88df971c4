/**
 * Reads a stream as lines without ever holding it whole: chunks are split on '\n' as they come,
 * and only the unfinished tail of the last chunk is carried over.
 */
import type { Readable } from 'node:stream';

/** One line of the input: its 1-based number, its text (no '\n', no trailing '\r'). */
export interface Line {
  no: number;
  text: string;
}

/**
 * Yields the lines of `input` in order, with their numbers, a chunk's worth at a time (one await
 * per chunk, not per line). Blank lines are counted but not yielded. `onBytes` hears how many bytes
 * have been read so far (for a progress bar).
 */
export async function* readLines(input: Readable, onBytes?: (n: number) => void): AsyncGenerator<Line[]> {
  let no = 0;
  let bytes = 0;
  let tail: Buffer | undefined;
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    bytes += buf.length;
    onBytes?.(bytes);
    if (tail) {
      buf = Buffer.concat([tail, buf]);
      tail = undefined;
    }
    const lines: Line[] = [];
    let start = 0;
    for (let nl = buf.indexOf(10, start); nl !== -1; nl = buf.indexOf(10, start)) {
      no++;
      const line = lineAt(buf, start, nl);
      start = nl + 1;
      if (line !== undefined) lines.push({ no, text: line });
    }
    if (start < buf.length) tail = buf.subarray(start);
    if (lines.length > 0) yield lines;
  }
  if (tail && tail.length > 0) {
    no++;
    const line = lineAt(tail, 0, tail.length);
    if (line !== undefined) yield [{ no, text: line }];
  }
}

/** The text of buf[start, end) without a trailing '\r', or undefined for a blank line. */
function lineAt(buf: Buffer, start: number, end: number): string | undefined {
  if (end > start && buf[end - 1] === 13) end--;
  const text = buf.toString('utf8', start, end);
  return text.trim() === '' ? undefined : text;
}
