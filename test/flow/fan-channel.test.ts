// fanIn and fanOut over Channels: a merge left by `break`, or a fan-out aborted, while a channel has
// no message, leaves no receive waiting: the process ends by itself (checked in child processes).
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** Runs the fixture in a child `node` with `mode`, killing it after `limit` ms. */
function runExit(mode: string, limit = 8000): Promise<{ code: number | null; stdout: string }> {
  const file = fileURLToPath(new URL('../fixtures/fan-channel-exit.mjs', import.meta.url));
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [file, mode], { timeout: limit, killSignal: 'SIGKILL' }, (_err, stdout) => {
      resolve({ code: child.exitCode, stdout });
    });
  });
}

describe('fanIn and fanOut over channels', () => {
  it('a break out of fanIn while a channel waits lets the process exit', async () => {
    const run = await runExit('fanIn');
    expect(run.stdout).toBe('got first\nthen later\n');
    expect(run.code).toBe(0);
  });

  it('an aborted fanOut over an empty channel lets the process exit', async () => {
    const run = await runExit('fanOut');
    expect(run.stdout).toBe('got AbortError\nthen later\n');
    expect(run.code).toBe(0);
  });
});
