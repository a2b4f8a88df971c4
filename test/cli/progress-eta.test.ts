// The progress bar's ETA as a user reads it on a terminal.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HAS_TERMINAL, numbered, onTerminal, RECORDS, ROOT, shownLines, SKEIN, skein, tmp } from '../fixtures/cli-helpers.js';

describe('skein run progress bar', () => {
  // `script` (util-linux) runs the command on a terminal, where the bar is drawn.
  it.skipIf(!HAS_TERMINAL)('shows an ETA it cannot tell yet as --, not as cli-progress\'s "NFs"', async () => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    // No line is done for the first ~0.6 s: the rate is 0 and the ETA unknown meanwhile.
    writeFileSync(input, numbered(8, { ms: 600 }));
    const cmd = `${process.execPath} ${SKEIN} run ${RECORDS} --fn slow -i ${input} -o ${join(dir, 'out.jsonl')} -w 2`;
    const screen = await onTerminal(cmd);
    const ESC = String.fromCharCode(27);
    const etas = [...screen.matchAll(new RegExp(`ETA ([^ ${ESC}]+)${ESC}`, 'g'))].map((m) => m[1]);
    expect(etas.length).toBeGreaterThan(0);
    for (const eta of etas) expect(eta).toMatch(/^(--|\d+s|\d+m\d+s|\d+h\d+m)$/);
    expect(etas).toContain('--');
  }, 20_000);

  it.skipIf(!HAS_TERMINAL)("shows the task module's prints as whole lines above the bar, not run into it", async () => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, numbered(12, { ms: 150 }));
    const cmd = `${process.execPath} ${SKEIN} run ${LOGS} -i ${input} -o ${join(dir, 'out.jsonl')} -w 2`;
    const screen = await onTerminal(cmd);
    expect(screen).toContain('items |'); // the bar was drawn
    const shown = shownLines(screen);
    for (const word of ['item', 'warn', 'part']) {
      const said = shown.filter((l) => l.includes(`${word} `));
      expect(said.sort()).toEqual(Array.from({ length: 12 }, (_, i) => `${word} ${i + 1}`).sort());
    }
    // The bar is drawn again after the prints: the last line shown is the finished bar, and the
    // cursor is not sent back to the row the bar started on (ESC 8), above the lines printed since.
    expect(shown.filter((l) => l !== '').at(-1)).toMatch(/100% \| 12 items/);
    expect(screen).not.toContain(`${String.fromCharCode(27)}8`);
  }, 20_000);

  it("passes the task module's prints through untouched when stderr is not a terminal (no bar)", async () => {
    const r = await skein(['run', LOGS, '-w', '2'], numbered(5));
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain(String.fromCharCode(27));
    const said = r.stderr.split('\n');
    for (let n = 1; n <= 5; n++) for (const word of ['item', 'warn', 'part']) expect(said).toContain(`${word} ${n}`);
    expect(said.filter((l) => l !== '')).toHaveLength(15);
  });
});

const LOGS = join(ROOT, 'test/fixtures/cli-logs-slow.mjs');
