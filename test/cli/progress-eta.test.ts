// The progress bar's ETA as a user reads it on a terminal.
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { numbered, RECORDS, SKEIN, tmp } from '../fixtures/cli-helpers.js';

describe('skein run progress bar', () => {
  // `script` (util-linux) runs the command on a terminal, where the bar is drawn.
  it.skipIf(!existsSync('/usr/bin/script'))('shows an ETA it cannot tell yet as --, not as cli-progress\'s "NFs"', async () => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    // No line is done for the first ~0.6 s: the rate is 0 and the ETA unknown meanwhile.
    writeFileSync(input, numbered(8, { ms: 600 }));
    const cmd = `${process.execPath} ${SKEIN} run ${RECORDS} --fn slow -i ${input} -o ${join(dir, 'out.jsonl')} -w 2`;
    const screen = await new Promise<string>((resolve) => {
      let text = '';
      const child = spawn('/usr/bin/script', ['-qec', cmd, '/dev/null'], { stdio: ['ignore', 'pipe', 'inherit'] });
      child.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
      child.on('close', () => resolve(text));
    });
    const ESC = String.fromCharCode(27);
    const etas = [...screen.matchAll(new RegExp(`ETA ([^ ${ESC}]+)${ESC}`, 'g'))].map((m) => m[1]);
    expect(etas.length).toBeGreaterThan(0);
    for (const eta of etas) expect(eta).toMatch(/^(--|\d+s|\d+m\d+s|\d+h\d+m)$/);
    expect(etas).toContain('--');
  }, 20_000);
});
