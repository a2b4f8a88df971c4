// PatternRegistry: cases found by a review (rev-observe), each failed before its fix.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, PatternRegistry } from 'skein';
import { describe, expect, it } from 'vitest';

interface Run {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

function runScript(name: string, args: string[], limit = 10_000): Promise<Run> {
  const file = fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [file, ...args], { timeout: limit, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      resolve({ code: child.exitCode, signal: child.signalCode ?? (err as { signal?: string } | null)?.signal ?? null, stdout, stderr });
    });
  });
}

describe('PatternRegistry.shutdownAll, something never closes', () => {
  for (const mode of ['plain', 'protective']) {
    it(`the process exits by itself after it, though a pool's task hangs (${mode})`, async () => {
      const r = await runScript('registry-exit-stuck.mjs', ['300', mode]);
      expect(r.stderr).toBe('');
      expect(r.signal).toBeNull(); // SIGKILL: still alive after 10 s, the pool's workers held it
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout) as Record<string, unknown>;
      expect(out).toMatchObject({ closed: ['cb', 'pipe'], timedOut: ['pool'], failed: [], run: 'AbortError' });
      expect(out.ms).toBeLessThan(1000);
    });
  }
});

describe('PatternRegistry default names', () => {
  it('a default name skips a name the caller chose', () => {
    const r = new PatternRegistry();
    r.register({}, { name: 'other-1' });
    expect(r.register({})).toBe('other-2'); // threw: the registry already has 'other-1'
    expect(() => r.register({}, { name: 'other-2' })).toThrow(/already has 'other-2'/);
    expect(r.list().map((e) => e.name)).toEqual(['other-1', 'other-2']);
  });
});

describe('PatternRegistry.register: bad calls', () => {
  it('one object under two names, and null options, are InvalidArgumentErrors (both were accepted or a TypeError)', () => {
    const r = new PatternRegistry();
    const thing = { close: (): void => {} };
    r.register(thing, { name: 'a' });
    expect(() => r.register(thing, { name: 'b' })).toThrow(/registered already, as 'a'/);
    expect(() => r.register({}, null as never)).toThrow(InvalidArgumentError);
    expect(r.list().map((e) => e.name)).toEqual(['a']);
  });
});
