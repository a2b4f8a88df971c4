// The README's examples run as written. Every ```js block is one of two kinds: a file (its first
// line is `// file: NAME`), written into a scratch folder, or a script, run there with this Node in
// the README's order once the files exist. A script passes when it exits 0 on its own (a pool left
// open would keep it alive past the timeout) and prints what its `// prints:` line says, if any.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(join(repo, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
const files = blocks.filter((b) => b.startsWith('// file: '));
const scripts = blocks.filter((b) => !b.startsWith('// file: '));

const scratch = mkdtempSync(join(tmpdir(), 'skein-readme-'));
mkdirSync(join(scratch, 'node_modules'));
symlinkSync(repo, join(scratch, 'node_modules', 'skein'), 'dir');
for (const f of files) {
  const name = f.slice('// file: '.length, f.indexOf('\n')).trim();
  mkdirSync(dirname(join(scratch, name)), { recursive: true });
  writeFileSync(join(scratch, name), f);
}
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('README examples', () => {
  it('has runnable examples', () => {
    expect(scripts.length).toBeGreaterThanOrEqual(3);
  });

  it.each(scripts.map((s, i) => [i + 1, s.split('\n')[0], s] as const))(
    'script %i (%s) runs and exits by itself',
    (i, _title, body) => {
      const path = join(scratch, `readme-${i}.mjs`);
      writeFileSync(path, body);
      const out = execFileSync(process.execPath, [path], { cwd: scratch, encoding: 'utf8', timeout: 60_000 });
      const expected = /\/\/ prints: (.*)/.exec(body)?.[1];
      if (expected !== undefined) expect(out.trim()).toBe(expected.trim());
    },
    70_000,
  );
});
