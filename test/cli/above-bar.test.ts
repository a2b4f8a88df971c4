// What reaches a terminal while the progress bar is drawn on it (a task module's prints, error
// lines): each line whole, above the bar, and the bar drawn again below them.
import { setImmediate as turn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { writeAboveBar } from '../../src/cli/above-bar.js';

const CLEAR = '\r\x1b[K';

/** A stand-in for a terminal stream: what was written to it, in order, as text. */
function terminal(): { stream: NodeJS.WriteStream; seen: string[] } {
  const seen: string[] = [];
  const stream = {
    isTTY: true,
    columns: 80,
    write(chunk: string | Uint8Array, enc?: unknown, cb?: (err?: Error | null) => void): boolean {
      seen.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      (typeof enc === 'function' ? (enc as typeof cb) : cb)?.();
      return true;
    },
  };
  return { stream: stream as unknown as NodeJS.WriteStream, seen };
}

describe('writeAboveBar', () => {
  it("clears the bar's line, writes the line there, and has the bar drawn again below it (once per turn)", async () => {
    const { stream, seen } = terminal();
    let redraws = 0;
    const above = writeAboveBar(stream, () => redraws++);
    above.raw.write('[bar]');
    stream.write('item 1\n');
    stream.write('item 2\n');
    expect(seen).toEqual(['[bar]', CLEAR, 'item 1\n', CLEAR, 'item 2\n']);
    expect(redraws).toBe(0);
    await turn();
    expect(redraws).toBe(1);
    above.restore();
  });

  it('holds a line written in pieces until it is whole: the bar is never drawn after half a line', async () => {
    const { stream, seen } = terminal();
    let redraws = 0;
    const above = writeAboveBar(stream, () => redraws++);
    stream.write('part ');
    await turn();
    expect(seen).toEqual([]);
    expect(redraws).toBe(0);
    stream.write(Buffer.from('5\nwarn h\u00e9'));
    expect(seen).toEqual([CLEAR, 'part 5\n']);
    stream.write('llo\n');
    expect(seen.slice(2)).toEqual([CLEAR, 'warn h\u00e9llo\n']);
    // At the end, a piece still held is written on a line of its own (the final bar goes below it).
    stream.write('no newline');
    above.restore();
    expect(seen.slice(4)).toEqual([CLEAR, 'no newline\n']);
  });

  it("calls each write's callback, a held piece's too", async () => {
    const { stream } = terminal();
    const above = writeAboveBar(stream, () => {});
    const called: string[] = [];
    stream.write('a\n', () => called.push('a'));
    stream.write('b', 'utf8', () => called.push('b'));
    await turn();
    expect(called.sort()).toEqual(['a', 'b']);
    above.restore();
  });

  it('restore gives the stream its own write back, and no redraw comes after it', async () => {
    const { stream, seen } = terminal();
    const own = stream.write;
    let redraws = 0;
    const above = writeAboveBar(stream, () => redraws++);
    expect(stream.write).not.toBe(own);
    stream.write('x\n');
    above.restore();
    expect(stream.write).toBe(own);
    stream.write('after');
    expect(seen).toEqual([CLEAR, 'x\n', 'after']);
    await turn();
    expect(redraws).toBe(0);
  });

  it("on a real stream, takes the write off the stream's own property and leaves none behind", () => {
    const had = Object.hasOwn(process.stderr, 'write');
    const was = process.stderr.write;
    const above = writeAboveBar(process.stderr, () => {});
    expect(Object.hasOwn(process.stderr, 'write')).toBe(true);
    above.restore();
    expect(Object.hasOwn(process.stderr, 'write')).toBe(had);
    expect(process.stderr.write).toBe(was);
  });
});
