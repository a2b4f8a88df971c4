// `skein run` stopped by a signal: it finishes what is running, not all that is queued.
import { spawn } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { jsonLines, numbered, RECORDS, ROOT, SKEIN, skein, start, tmp } from '../fixtures/cli-helpers.js';
import { until } from '../fixtures/pool-helpers.js';

describe('skein run stopped by a signal', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)(
    '%s runs none of the batches still queued in the pool (they are left for --resume), and --resume then does every line once',
    async (sig) => {
      const dir = tmp();
      const input = join(dir, 'in.jsonl');
      const N = 120;
      writeFileSync(input, numbered(N, { ms: 100 }));
      const out = join(dir, 'out.jsonl');
      const args = ['run', RECORDS, '--fn', 'slow', '-i', input, '-o', out, '-w', '2'];
      const first = start(args);
      for (let t = 0; t < 400; t++) {
        await delay(25);
        try {
          if (statSync(out).size > 0) break;
        } catch {}
      }
      first.child.kill(sig);
      const r1 = await first.done;
      expect(r1.code).toBe(sig === 'SIGINT' ? 130 : 143);
      const done1 = jsonLines(out).length;
      // All N lines were handed to the pool at once (they fit its window); only the two batches
      // running when the signal came may finish, not the ~100 lines queued behind them.
      expect(done1).toBeGreaterThan(0);
      expect(done1).toBeLessThan(N / 2);
      expect(r1.stderr).toContain(`stopped after ${done1} items`);

      const r2 = await skein([...args, '--resume']);
      expect(r2.code).toBe(0);
      const got = (jsonLines(out) as { n: number }[]).map((x) => x.n).sort((a, b) => a - b);
      expect(got).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    },
    30_000,
  );

  it.each(['SIGINT', 'SIGTERM'] as const)(
    '%s stops at once a run that --fail-fast already stopped while an item still runs (the signal was ignored: only SIGKILL ended it)',
    async (sig) => {
      // --rate makes each line its own task: line 2 fails (the run stops) while line 1 runs 60 s.
      const input = `${JSON.stringify({ n: 1, ms: 60_000 })}\n${JSON.stringify({ n: 2, fail: true })}\n`;
      const run = start(['run', RECORDS, '--fn', 'maybeFail,slow', '--fail-fast', '--rate', '1000', '-w', '2'], input);
      let stderr = '';
      run.child.stderr!.on('data', (d: string) => (stderr += d));
      for (let t = 0; t < 400 && !stderr.includes('asked to fail'); t++) await delay(25);
      expect(stderr).toContain('item 2 asked to fail');
      const t0 = Date.now();
      run.child.kill(sig);
      const r = await Promise.race([run.done, delay(10_000).then(() => 'hung' as const)]);
      if (r === 'hung') run.child.kill('SIGKILL');
      expect(r).not.toBe('hung');
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(r).toMatchObject({ code: 3, stdout: '' });
    },
    30_000,
  );

  it('the first Ctrl-C says at once that it waits for the items running, and how to stop now', async () => {
    const run = start(['run', join(ROOT, 'test/fixtures/cli-slow-start.mjs'), '-w', '2'], `${JSON.stringify({ n: 1, ms: 60_000 })}\n`);
    let stderr = '';
    run.child.stderr!.on('data', (d: string) => (stderr += d));
    for (let t = 0; t < 600 && !stderr.includes('start 1\n'); t++) await delay(25);
    run.child.kill('SIGINT');
    for (let t = 0; t < 200 && !stderr.includes('again to stop now'); t++) await delay(25);
    expect(stderr).toContain('skein: SIGINT: no more input is read; waiting for the items running (SIGINT again to stop now)');
    run.child.kill('SIGINT');
    const r = await Promise.race([run.done, delay(10_000).then(() => 'hung' as const)]);
    if (r === 'hung') run.child.kill('SIGKILL');
    expect(r).toMatchObject({ code: 130, stdout: '' });
  }, 30_000);

  it.each([{ opts: [] as string[] }, { opts: ['--ordered'] }])('Ctrl-C waits for the items running only, not for the rest of their batches (it ran up to 8 more per worker), options $opts', async ({ opts }) => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    const N = 20;
    writeFileSync(input, numbered(N, { ms: 400 }));
    const out = join(dir, 'out.jsonl');
    const args = ['run', join(ROOT, 'test/fixtures/cli-slow-start.mjs'), '-i', input, '-o', out, '-w', '2', ...opts];
    const first = start(args);
    let stderr = '';
    first.child.stderr!.on('data', (d: string) => (stderr += d));
    // Both workers run their first batch (lines 1-8 and 9-16) when the signal comes.
    for (let t = 0; t < 600 && !(stderr.includes('start 1\n') && stderr.includes('start 9\n')); t++) await delay(25);
    expect(stderr).toContain('start 9\n');
    // Items already started by then (a worker that booted late leaves the other several lines in).
    const startedAtKill = stderr.match(/^start \d+$/gm)!.length;
    const t0 = Date.now();
    first.child.kill('SIGINT');
    const r1 = await first.done;
    const took = Date.now() - t0;
    expect(r1.code).toBe(130);
    // The first batches hold 8 lines each: finishing them ran all 16 lines, 8 x 400 ms after the
    // signal (>= 2.8 s: line 9 had just started). Now only the lines running finish: those seen
    // started, and at most one more per worker (started as the signal came, its line not yet read).
    const done1 = jsonLines(out).length;
    expect(done1).toBeLessThanOrEqual(startedAtKill + 2);
    expect(took).toBeLessThan(2800);
    expect(r1.stderr).toContain(`stopped after ${done1} items`);
    const r2 = await skein([...args, '--resume']);
    expect(r2.code).toBe(0);
    const got = (jsonLines(out) as { n: number }[]).map((x) => x.n);
    // --ordered: the batch written cut short is a gap that the batches after it wait behind.
    if (opts.length === 0) got.sort((a, b) => a - b);
    expect(got).toEqual(Array.from({ length: N }, (_, i) => i + 1));
  }, 30_000);

  it('a second Ctrl-C stops at once even when the output is a pipe that nobody reads (its writes never finish)', async () => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, numbered(100_000));
    // stdout is a pipe this test never reads: it fills, and the command's writes to it hang.
    const child = spawn(process.execPath, [SKEIN, 'run', RECORDS, '--fn', 'double', '-i', input, '-w', '2'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // Results on stdout mean the run has started and its Ctrl-C handler is in place (a SIGINT
    // before that ends the process by Node's default: no exit code). This side buffers them up to
    // its high-water mark and then reads no more; the pipe behind it fills soon after.
    await until(() => child.stdout.readableLength >= child.stdout.readableHighWaterMark, 15_000, 'stdout buffered full');
    await delay(1000);
    child.kill('SIGINT');
    // Nothing to wait for in between: with no item running (the run waits on the output) the first
    // says nothing, and each signal delivered runs the handler, handled or not the one before.
    await delay(300);
    child.kill('SIGINT');
    const code = await Promise.race([closed, delay(10_000).then(() => 'hung' as const)]);
    if (code === 'hung') child.kill('SIGKILL');
    child.stdout.destroy();
    expect(code).toBe(130);
    expect(stderr).toContain('SIGINT again, stopping now');
  }, 30_000);
});
