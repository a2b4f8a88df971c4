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
// Shell lines that run the `skein` command and say what they print (the next line, `# prints: ...`),
// run with bash in the same folder once the files exist, `npx skein` being the built command.
const commands = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => {
  const ls = m[1].split('\n');
  return ls.flatMap((l, i) => {
    const printed = /^# prints: (.*)/.exec(ls[i + 1] ?? '')?.[1];
    return l.includes('npx skein ') && printed !== undefined ? [[l, printed] as const] : [];
  });
});

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

  it('has a skein command line that says what it prints', () => {
    expect(commands.length).toBeGreaterThanOrEqual(1);
  });

  it.each(commands)('`%s` prints what README says', (line, printed) => {
    const cli = `"${process.execPath}" node_modules/skein/dist/src/cli/main.js `;
    const out = execFileSync('bash', ['-c', line.replaceAll('npx skein ', cli)], { cwd: scratch, encoding: 'utf8', timeout: 60_000 });
    expect(out.trim()).toBe(printed.trim());
  }, 70_000);
});
