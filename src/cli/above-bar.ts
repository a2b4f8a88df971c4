/**
 * Text written to the terminal stream a progress bar is drawn on (a task module's prints, which
 * each worker's stderr pipes into the process's; error lines; messages) comes out above the bar:
 * the bar's line is cleared, the text written there, and the bar drawn again below it. Unhooked,
 * each print ran into the bar's line and left it on the screen ("... ETA 2sitem 7").
 *
 * Not cli-progress's MultiBar.log(): it holds the lines until its next frame (up to 1/fps s), drops
 * those still held when the bar stops, and does not redraw a bar whose text has not changed (the
 * bar vanished under a print until it moved). Only writes to this stream pay for this, and only
 * while the bar is drawn; results go to stdout or a file.
 */

type Write = NodeJS.WriteStream['write'];
type Callback = (err?: Error | null) => void;

/** What draws the bar, and how it ends. */
export interface AboveBar {
  /** The stream as the bar draws on it: its own write, not the one that clears the bar. */
  readonly raw: Pick<NodeJS.WriteStream, 'write' | 'isTTY' | 'columns'>;
  /** Writes a piece of a line still held (ending its line), and gives the stream its own write back. */
  restore(): void;
}

/** Back to column 1, then erase to the end of the line. */
export const CLEAR_LINE = '\r\x1b[K';
const NEWLINE = 0x0a;

/**
 * Hooks `stream.write` (an own property, so that the pipes already feeding it, each worker's
 * stderr, write through it too) until `restore()`. `redraw` draws the bar again; it is called once
 * per event-loop turn that wrote whole lines. A piece of a line (no newline yet) is held until
 * the line is whole: the bar drawn after half a line would overwrite it.
 */
export function writeAboveBar(stream: NodeJS.WriteStream, redraw: () => void): AboveBar {
  const own = Object.getOwnPropertyDescriptor(stream, 'write');
  const write = stream.write as (chunk: string | Uint8Array, cb?: Callback) => boolean;
  const rawWrite = ((...args: unknown[]) => (write as (...a: unknown[]) => boolean).apply(stream, args)) as Write;
  let held: Buffer | undefined;
  let again: NodeJS.Immediate | undefined;
  const drawAgain = (): void => {
    again = undefined;
    redraw();
  };

  const hooked = (chunk: string | Uint8Array, enc?: BufferEncoding | Callback, cb?: Callback): boolean => {
    const done = typeof enc === 'function' ? enc : cb;
    // Text in another encoding (hex, base64) is cut as the bytes it stands for.
    const utf8 = typeof enc !== 'string' || enc === 'utf8' || enc === 'utf-8';
    let text: string | Uint8Array = typeof chunk === 'string' && !utf8 ? Buffer.from(chunk, enc as BufferEncoding) : chunk;
    if (held) {
      text = Buffer.concat([held, typeof text === 'string' ? Buffer.from(text) : text]);
      held = undefined;
    }
    const end = (typeof text === 'string' ? text.lastIndexOf('\n') : text.lastIndexOf(NEWLINE)) + 1;
    if (end < text.length) {
      // Copied: the writer may reuse its buffer once the write returns.
      held = typeof text === 'string' ? Buffer.from(text.slice(end)) : Buffer.from(text.subarray(end));
      text = typeof text === 'string' ? text.slice(0, end) : text.subarray(0, end);
    }
    if (end === 0) {
      if (done) process.nextTick(done);
      return true;
    }
    write.call(stream, CLEAR_LINE);
    again ??= setImmediate(drawAgain);
    return write.call(stream, text, done);
  };
  stream.write = hooked as Write;

  return {
    raw: {
      write: rawWrite,
      get isTTY() {
        return stream.isTTY;
      },
      get columns() {
        return stream.columns;
      },
    },
    restore(): void {
      if (again) clearImmediate(again);
      again = undefined;
      if (own) Object.defineProperty(stream, 'write', own);
      else delete (stream as Partial<NodeJS.WriteStream>).write;
      if (held) {
        write.call(stream, CLEAR_LINE);
        write.call(stream, Buffer.concat([held, Buffer.from('\n')]));
        held = undefined;
      }
    },
  };
}
