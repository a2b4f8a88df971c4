// `skein run` as a user runs it: the built command in a child process, on real JSONL.
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, existsSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { HAS_TERMINAL, jsonLines, lines, numbered, onTerminal, RECORDS, ROOT, shownLines, SKEIN, skein, start, tmp } from '../fixtures/cli-helpers.js';
import { until } from '../fixtures/pool-helpers.js';
import { availableCores } from 'skein/internal';

type N = { n: number };
const ns = (xs: unknown[]): number[] => (xs as N[]).map((x) => x.n).sort((a, b) => a - b);
const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe('skein run', () => {
  it('reads stdin and writes stdout by default, one JSON line per input line; exit 0', async () => {
    const r = await skein(['run', RECORDS, '--fn', 'double', '--workers', '2'], numbered(200));
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(''); // stderr is not a terminal: no progress bar, no chatter
    expect(ns(lines(r.stdout))).toEqual(range(1, 200).map((n) => n * 2));
  });

  it('prints no MaxListenersExceededWarning with more than 8 workers (the default on a 9+ core machine)', async () => {
    // Each worker pipes its stdout and stderr into the process's, one 'error' listener each.
    const r = await skein(['run', RECORDS, '--fn', 'double', '--workers', '12'], numbered(20));
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(ns(lines(r.stdout))).toEqual(range(1, 20).map((n) => n * 2));
  }, 30_000);

  it('runs several --fn names as stages, each output the next input', async () => {
    const r = await skein(['run', RECORDS, '--fn', 'double,double,double'], numbered(50));
    expect(r.code).toBe(0);
    expect(ns(lines(r.stdout))).toEqual(range(1, 50).map((n) => n * 8));
  });

  it('sends malformed lines and failing items to the errors file with line, input, stage and error; exit 1', async () => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    const text = '{"n":1}\n{"n":2,\nnot json at all\n\n{"n":5,"fail":true}\n{"n":6}\n';
    writeFileSync(input, text);
    const out = join(dir, 'out.jsonl');
    const errors = join(dir, 'errors.jsonl');
    const r = await skein(['run', RECORDS, '--fn', 'maybeFail,double', '-i', input, '-o', out, '-e', errors]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('3 of 5 items failed');
    expect(ns(jsonLines(out))).toEqual([2, 12]);
    const errs = (jsonLines(errors) as { line: number }[]).sort((a, b) => a.line - b.line);
    expect(errs).toEqual([
      { line: 2, input: '{"n":2,', stage: 'parse', error: { class: 'SyntaxError', message: expect.any(String) } },
      { line: 3, input: 'not json at all', stage: 'parse', error: { class: 'SyntaxError', message: expect.any(String) } },
      {
        line: 5,
        input: { n: 5, fail: true },
        stage: 'maybeFail',
        error: { class: 'RangeError', message: 'item 5 asked to fail' },
      },
    ]);
  });

  it.each(['pool', 'pipeline'])('keeps every line number exact across thousands of lines in many batches (blank, CRLF, malformed, failing), stages via %s', async (via) => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    const errors = join(dir, 'e.jsonl');
    const N = 3000;
    let text = '';
    for (let i = 1; i <= N; i++) {
      if (i % 7 === 0) text += i % 2 ? '\n' : '  \r\n';
      else if (i % 11 === 0) text += `{"n":${i},\n`;
      else text += `${JSON.stringify({ n: i, fail: i % 13 === 0 })}${i % 3 ? '\n' : '\r\n'}`;
    }
    writeFileSync(input, text);
    const r = await skein(['run', RECORDS, '--fn', 'maybeFail,double', '--ordered', '-i', input, '-e', errors, '-w', '2', '--stages-via', via]);
    expect(r.code).toBe(1);
    const good = range(1, N).filter((i) => i % 7 !== 0 && i % 11 !== 0 && i % 13 !== 0);
    expect((lines(r.stdout) as N[]).map((x) => x.n)).toEqual(good.map((i) => i * 2));
    const errs = jsonLines(errors) as { line: number; stage: string; input: unknown }[];
    const bad = range(1, N).filter((i) => i % 7 !== 0 && (i % 11 === 0 || i % 13 === 0));
    expect(errs.map((e) => e.line).sort((a, b) => a - b)).toEqual(bad);
    for (const e of errs) {
      if (e.line % 11 === 0) expect(e).toMatchObject({ stage: 'parse', input: `{"n":${e.line},` });
      else expect(e).toMatchObject({ stage: 'maybeFail', input: { n: e.line, fail: true } });
    }
    expect(r.stderr).toContain(`${bad.length} of ${good.length + bad.length} items failed`);
  });

  it('writes errors to stderr as JSON lines when no --errors is given', async () => {
    const r = await skein(['run', RECORDS, '--fn', 'maybeFail'], '{"n":1,"fail":true}\n{"n":2}\n');
    expect(r.code).toBe(1);
    expect(lines(r.stdout)).toEqual([{ n: 2 }]);
    const rec = JSON.parse(r.stderr.split('\n')[0]) as { line: number; error: { class: string } };
    expect(rec.line).toBe(1);
    expect(rec.error.class).toBe('RangeError');
  });

  it('a result JSON cannot write (a function, a symbol) is an error record, not a line silently dropped; undefined writes nothing', async () => {
    const dir = tmp();
    const mod = join(dir, 'odd-results.mjs');
    writeFileSync(
      mod,
      'export default (x) => x.n === 1 ? () => 1 : x.n === 2 ? undefined : x.n === 3 ? Symbol("s") : x.n === 4 ? 10n : x;\n',
    );
    const r = await skein(['run', mod], numbered(5));
    expect(r.code).toBe(1);
    expect(lines(r.stdout)).toEqual([{ n: 5 }]);
    const errs = lines(r.stderr.split('\n').filter((l) => l.startsWith('{')).join('\n')) as { line: number; error: { class: string } }[];
    expect(errs.map((e) => e.line).sort()).toEqual([1, 3, 4]);
    for (const e of errs) expect(e.error.class).toBe('TypeError');
  });

  it('a line of JSON nested too deep to write back fails alone, its input kept as text; the run goes on (it crashed the command)', async () => {
    const dir = tmp();
    const errors = join(dir, 'e.jsonl');
    // JSON.parse reads any depth; JSON.stringify overflows the stack on it, in the worker and in
    // the main thread writing the line's error record.
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    const r = await skein(['run', RECORDS, '--fn', 'maybeFail', '-e', errors, '-w', '1'], `${deep}\n{"n":2}\n`);
    expect(r.stdout).toBe('{"n":2}\n');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('1 of 2 items failed');
    expect(jsonLines(errors)).toEqual([{ line: 1, input: deep, stage: null, error: { class: 'RangeError', message: expect.any(String) } }]);
  });

  it('handles empty input (and blank lines only): no output, exit 0', async () => {
    expect(await skein(['run', RECORDS, '--fn', 'double'], '')).toMatchObject({ code: 0, stdout: '' });
    expect(await skein(['run', RECORDS, '--fn', 'double'], '\n\n  \n')).toMatchObject({ code: 0, stdout: '' });
  });

  it('sends a line that is not valid UTF-8 to the errors file as malformed, not on with its bytes replaced', async () => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    const errors = join(dir, 'e.jsonl');
    writeFileSync(input, Buffer.concat([Buffer.from('{"n":1}\n{"n":2,"s":"'), Buffer.from([0xff, 0xc3]), Buffer.from('"}\n{"n":3,"s":"é"}\n')]));
    const r = await skein(['run', RECORDS, '--fn', 'maybeFail', '--ordered', '-i', input, '-e', errors]);
    expect(r.code).toBe(1);
    expect(lines(r.stdout)).toEqual([{ n: 1 }, { n: 3, s: 'é' }]);
    expect(jsonLines(errors)).toEqual([
      { line: 2, input: expect.any(String), stage: 'parse', error: { class: 'SyntaxError', message: 'line 2 is not valid UTF-8' } },
    ]);
  });

  it('a worker that crashes on one line fails that line only: the rest of its batch runs again, nothing lost or doubled', async () => {
    const dir = tmp();
    const errors = join(dir, 'e.jsonl');
    let text = '';
    // The first batches hold 8 lines: line 3 takes its batch's worker down with it.
    for (let i = 1; i <= 40; i++) text += `${JSON.stringify(i === 3 ? { n: i, crash: true } : { n: i })}\n`;
    const r = await skein(['run', join(ROOT, 'test/fixtures/cli-crash.mjs'), '--ordered', '-e', errors, '-w', '2'], text);
    expect(r.code).toBe(1);
    expect((lines(r.stdout) as N[]).map((x) => x.n)).toEqual(range(1, 40).filter((i) => i !== 3));
    expect(jsonLines(errors)).toEqual([
      { line: 3, input: { n: 3, crash: true }, stage: null, error: { class: 'WorkerCrashedError', message: expect.any(String) } },
    ]);
    expect(r.stderr).toContain('1 of 40 items failed');
  });

  it("runs a task module as a pool does: its setup() before the first item and teardown() after, a tsc CommonJS default export, a class instance's methods", async () => {
    const hooks = await skein(['run', join(ROOT, 'test/fixtures/cli-hooks.mjs'), '-w', '2'], numbered(20));
    expect(hooks.code).toBe(0);
    expect(ns(lines(hooks.stdout))).toEqual(range(1, 20).map((n) => n * 10));
    expect(hooks.stderr).toBe('teardown\nteardown\n');
    const tsc = await skein(['run', join(ROOT, 'test/fixtures/cli-tsc-default.cjs')], numbered(3));
    expect([tsc.code, tsc.stderr]).toEqual([0, '']);
    expect(ns(lines(tsc.stdout))).toEqual([2, 3, 4]);
    const inst = await skein(['run', join(ROOT, 'test/fixtures/cli-instance.cjs'), '--fn', 'triple'], numbered(3));
    expect([inst.code, inst.stderr]).toEqual([0, '']);
    expect(ns(lines(inst.stdout))).toEqual([3, 6, 9]);
  });

  it("writes only results on stdout: a task module's console.log and stdout writes (at load, in setup(), per item) go to stderr", async () => {
    const r = await skein(['run', join(ROOT, 'test/fixtures/cli-logs.mjs'), '-w', '2'], numbered(20));
    expect(r.code).toBe(0);
    expect(ns(lines(r.stdout))).toEqual(range(1, 20));
    const said = r.stderr.split('\n');
    for (let n = 1; n <= 20; n++) expect(said).toContain(`item ${n}`);
    expect(said).toContain('raw 7');
    expect(said.filter((l) => l === 'module loaded').length).toBeGreaterThanOrEqual(2);
    expect(said.filter((l) => l === 'setup')).toHaveLength(2);
    expect(said.filter((l) => l === 'teardown')).toHaveLength(2);
  });

  it('exits as soon as it is done when the task module left a timer running in the main thread (it waited 2 s more)', async () => {
    // Timed from its last result to its exit, not start to exit against a second run: a loaded
    // machine can start one process a second slower than another. That tail was >= 2 s before the
    // fix (a 2 s exit timer after the last write) and is the pool's close plus ~10 ms now.
    const run = start(['run', join(ROOT, 'test/fixtures/cli-timer.mjs'), '-w', '1'], numbered(3));
    let lastOut = 0;
    run.child.stdout!.on('data', () => (lastOut = performance.now()));
    const r = await run.done;
    const tail = performance.now() - lastOut;
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(ns(lines(r.stdout))).toEqual([1, 2, 3]);
    expect(tail).toBeLessThan(1500);
  });

  it('stops with a usage error naming setup() when it fails in the workers; no line is logged as done', async () => {
    const dir = tmp();
    const out = join(dir, 'out.jsonl');
    const errors = join(dir, 'e.jsonl');
    const r = await skein(['run', join(ROOT, 'test/fixtures/cli-setup-fails.mjs'), '-o', out, '-e', errors, '-w', '2'], numbered(50));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('setup() failed in a worker thread: model.bin not found');
    expect(jsonLines(errors)).toEqual([]);
    expect(jsonLines(`${out}.joblog`)).toEqual([]);
  });

  it('runs a TypeScript task module under tsx (the workers load it as the main thread does), and names the ways to when Node cannot', async () => {
    const ts = join(ROOT, 'test/fixtures/cli-task.ts');
    const r = await skein(['run', ts, '--fn', 'square', '-w', '2'], numbered(4), ['--import', 'tsx']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(ns(lines(r.stdout))).toEqual([1, 4, 9, 16]);
    const [major, minor] = process.versions.node.split('.').map(Number);
    if (major < 22 || (major === 22 && minor < 18)) {
      const bare = await skein(['run', ts, '--fn', 'square'], numbered(1));
      expect(bare.code).toBe(2);
      expect(bare.stderr).toContain('use Node >= 22.18, which strips types, or install tsx');
    }
  });

  it('names a missing module and a missing function; exit 2', async () => {
    const m = await skein(['run', './no/such/module.js'], '{"n":1}\n');
    expect(m.code).toBe(2);
    expect(m.stderr).toContain('task module not found: ./no/such/module.js');
    const f = await skein(['run', RECORDS, '--fn', 'double,nope'], '{"n":1}\n');
    expect(f.code).toBe(2);
    expect(f.stderr).toMatch(/has no function 'nope' \(its functions: .*double.*\)/);
    expect(f.stdout).toBe('');
  });

  it('stops with a usage error naming the module when it loads on the main thread but not in a worker; no line is logged as done', async () => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, numbered(500));
    const out = join(dir, 'out.jsonl');
    const errors = join(dir, 'e.jsonl');
    const mod = join(ROOT, 'test/fixtures/cli-fails-in-worker.mjs');
    const r = await skein(['run', mod, '-i', input, '-o', out, '-e', errors, '-w', '2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`task module ${mod}: cannot load in a worker thread: `);
    expect(r.stderr).toContain('this module cannot run in a worker thread');
    expect(r.stderr).not.toContain('run-worker');
    // Not 500 failed items: once the module is fixed, --resume runs every line.
    expect(jsonLines(errors)).toEqual([]);
    expect(jsonLines(`${out}.joblog`)).toEqual([]);
  });

  it('names a task module whose top-level await never settles; exit 2, not a silent exit 13', async () => {
    const r = await skein(['run', 'test/fixtures/cli-await-forever.mjs'], '{"n":1}\n');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cannot load task module test/fixtures/cli-await-forever.mjs: its top-level await never settles');
  });

  it('refuses an output, errors file or job log that is the input or another of them (the input was wiped, exit 0); exit 2', async () => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, numbered(20));
    const same = await skein(['run', RECORDS, '--fn', 'double', '-i', input, '-o', join(dir, '.', 'in.jsonl')]);
    expect(same.code).toBe(2);
    expect(same.stderr).toContain('--input and --output name the same file');
    expect(readFileSync(input, 'utf8')).toBe(numbered(20));
    const out = join(dir, 'out.jsonl');
    const both = await skein(['run', RECORDS, '--fn', 'double', '-i', input, '-o', out, '-e', out]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--output and --errors name the same file');
    // Devices are no files to overwrite: both may be /dev/null.
    if (existsSync('/dev/null')) expect((await skein(['run', RECORDS, '--fn', 'double', '-i', input, '-o', '/dev/null', '-e', '/dev/null'])).code).toBe(0);
  });

  it('rejects bad options with a usage message; exit 2', async () => {
    const r = await skein(['run', RECORDS, '--workers', '0'], '');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("expected an integer >= 1, got '0'");
    const u = await skein(['run'], '');
    expect(u.code).toBe(2);
    expect(u.stderr).toContain("missing required argument 'task-module'");
  });

  it('--ordered writes results in input order even when later items finish first', async () => {
    let input = '';
    for (let i = 1; i <= 60; i++) input += `${JSON.stringify({ n: i, ms: (61 - i) % 7 === 0 ? 30 : 1 })}\n`;
    const r = await skein(['run', RECORDS, '--fn', 'slow', '--ordered', '--workers', '3'], input);
    expect(r.code).toBe(0);
    expect((lines(r.stdout) as N[]).map((x) => x.n)).toEqual(range(1, 60));
  });

  it('--fail-fast stops reading at the first failure; exit 3', async () => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    let text = '';
    for (let i = 1; i <= 20_000; i++) text += `${JSON.stringify({ n: i, fail: i === 10 })}\n`;
    writeFileSync(input, text);
    const errors = join(dir, 'e.jsonl');
    const r = await skein(['run', RECORDS, '--fn', 'maybeFail', '-i', input, '-e', errors, '--fail-fast']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('--fail-fast');
    expect((jsonLines(errors) as { line: number }[]).map((e) => e.line)).toEqual([10]);
    expect(lines(r.stdout).length).toBeLessThan(19_999);
  });

  it.skipIf(!existsSync('/dev/full'))('a failed output write is reported (exit 4) even when --fail-fast stopped the run too', async () => {
    const dir = tmp();
    const errors = join(dir, 'e.jsonl');
    const r = await skein(['run', RECORDS, '--fn', 'maybeFail', '-o', '/dev/full', '-e', errors, '--fail-fast', '-w', '1'], '{"n":1}\n{"n":2,"fail":true}\n');
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('ENOSPC');
  });

  it('--fail-fast stops at once while the input stays open (tail -f | skein run): it waited for the next line', async () => {
    const child = spawn(process.execPath, [SKEIN, 'run', RECORDS, '--fn', 'maybeFail', '--fail-fast'], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout.resume();
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    child.stdin.on('error', () => {});
    child.stdin.write('{"n":1}\n{"n":2,"fail":true}\n'); // and no end: the producer is still there
    const code = await Promise.race([closed, delay(10_000).then(() => 'hung' as const)]);
    if (code === 'hung') child.kill('SIGKILL');
    child.stdin.destroy();
    expect(code).toBe(3);
    expect(stderr).toContain('--fail-fast: stopped at the first failure');
  }, 20_000);

  it('errors going to a stderr that closes mid-run (EPIPE) stop the run with exit 4, not a crash that exits 1 as if all was written', async () => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, numbered(50_000, { fail: true }));
    const out = join(dir, 'out.jsonl');
    const child = spawn(process.execPath, [SKEIN, 'run', RECORDS, '--fn', 'maybeFail', '-i', input, '-o', out, '-w', '2'], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let got = 0;
    child.stderr.on('data', (d: Buffer) => {
      got += d.length;
      if (got > 1000) child.stderr.destroy(); // as `2> >(head -c 1000)` does
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(code).toBe(4);
  });

  it("stops quietly and at once when the output's reader goes away (| head): exit 141, no message; the job log names only what was written, and --resume does the rest", async () => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    // 40 ms an item, ~12 s on 2 workers; the window lets ~512 lines out at once (~10 s of work).
    const N = 600;
    writeFileSync(input, numbered(N, { ms: 40 }));
    const log = join(dir, 'run.joblog');
    const child = spawn(process.execPath, [SKEIN, 'run', RECORDS, '--fn', 'slow', '-i', input, '--joblog', log, '-w', '2'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let got = '';
    let stderr = '';
    let closedAt = 0;
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      got += d;
      if (!closedAt && got.split('\n').length > 3) {
        closedAt = Date.now();
        child.stdout.destroy(); // as `| head -n 3` does
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(closedAt).toBeGreaterThan(0);
    expect(Date.now() - closedAt).toBeLessThan(4000); // not the ~10 s the lines out at once still need
    expect([code, stderr]).toEqual([141, '']);
    // The log names exactly the lines whose output was written, every line the reader got among them.
    const recs = jsonLines(log) as { r: number[]; o: number; e: number }[];
    const done: number[] = [];
    for (const { r } of recs) for (let i = 0; i < r.length; i += 2) done.push(...range(r[i], r[i + 1]));
    done.sort((a, b) => a - b);
    expect(new Set(done).size).toBe(done.length);
    const outLine = (n: number): string => `${JSON.stringify({ n, ms: 40 })}\n`;
    expect(recs.at(-1)?.o ?? 0).toBe(done.reduce((s, n) => s + Buffer.byteLength(outLine(n)), 0));
    const read = got.split('\n').slice(0, -1).map((l) => (JSON.parse(l) as N).n);
    expect(read.length).toBeGreaterThanOrEqual(3);
    for (const n of read) expect(done).toContain(n);
    expect(done.length).toBeLessThan(N);
    // --resume runs every line the log does not name, and only those.
    const again = await skein(['run', RECORDS, '--fn', 'double', '-i', input, '--joblog', log, '--resume']);
    expect(again.code).toBe(0);
    expect(ns(lines(again.stdout))).toEqual(range(1, N).filter((n) => !done.includes(n)).map((n) => n * 2));
  });

  it.skipIf(!existsSync('/bin/sh'))('with errors on stderr, `2>&1 | head` (one pipe for both) stops quietly too: exit 141', async () => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    let text = '';
    for (let i = 1; i <= 20_000; i++) text += `${JSON.stringify({ n: i, fail: i % 3 === 0 })}\n`;
    writeFileSync(input, text);
    const status = join(dir, 'status');
    // The first write to hit the closed pipe may be an error record on stderr, not a result.
    const sh = `{ "$0" "$1" run "$2" --fn maybeFail -i "$3" -w 2 2>&1; echo $? > "$4"; } | head -n 3`;
    const got = await new Promise<string>((resolve) => {
      let out = '';
      const child = spawn('/bin/sh', ['-c', sh, process.execPath, SKEIN, RECORDS, input, status], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.on('close', () => resolve(out));
    });
    expect(got.split('\n').filter((l) => l !== '')).toHaveLength(3);
    expect(readFileSync(status, 'utf8').trim()).toBe('141');
  });

  // A write's callback hears the EPIPE before the stream's 'error' event, which for an output file
  // (a FIFO) comes only once its fd is closed: the last flush failed first, and the run said
  // 'stopped: EPIPE: broken pipe, write' and exited 4.
  it.skipIf(process.platform === 'win32')("an output FIFO whose reader goes away (head -c 100 out.fifo) stops quietly too: exit 141, no message", async () => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, numbered(20_000)); // ~200 kB of output: more than the pipe holds
    const fifo = join(dir, 'out.fifo');
    execFileSync('mkfifo', [fifo]);
    // Reads the first 100 bytes and goes, as `head -c 100 out.fifo` does.
    const reader = new Promise<number>((resolve, reject) => {
      const s = createReadStream(fifo, { highWaterMark: 100 });
      s.once('data', (d) => {
        s.destroy();
        resolve(d.length);
      });
      s.once('error', reject);
    });
    const r = await skein(['run', RECORDS, '--fn', 'double', '-i', input, '-o', fifo, '-w', '2']);
    expect(await reader).toBe(100);
    expect([r.code, r.stderr]).toEqual([141, '']);
  });

  it('--retries runs a failing item again and --timeout fails one that runs too long', async () => {
    const ok = await skein(['run', RECORDS, '--fn', 'flakyOnce', '--retries', '2', '--workers', '1'], numbered(5));
    expect(ok.code).toBe(0);
    expect(ns(lines(ok.stdout))).toEqual(range(1, 5));
    const t = await skein(['run', RECORDS, '--fn', 'slow', '--timeout', '200'], '{"n":1,"ms":5000}\n{"n":2}\n');
    expect(t.code).toBe(1);
    expect(lines(t.stdout)).toEqual([{ n: 2 }]);
    expect(JSON.parse(t.stderr.split('\n')[0])).toMatchObject({ line: 1, error: { class: 'TimeoutError' } });
  });

  it('a --fn stage named parse (as README names one) is retried, and its error record has the input parsed', async () => {
    // Malformed lines are reported with stage 'parse' too; a user's own parse stage was taken for
    // one: never retried, and its input written as the raw line.
    const dir = tmp();
    const mod = join(dir, 'tasks.mjs');
    writeFileSync(
      mod,
      `const seen = new Set();
export function parse(x) {
  if (x.fail) throw new RangeError('item ' + x.n + ' is bad');
  if (!seen.has(x.n)) { seen.add(x.n); throw new Error('item ' + x.n + ' fails once'); }
  return x;
}
`,
    );
    const errors = join(dir, 'e.jsonl');
    const r = await skein(['run', mod, '--fn', 'parse', '--retries', '2', '-w', '1', '-e', errors], '{"n":1}\nnope\n{"n":3,"fail":true}\n');
    expect(r.code).toBe(1);
    expect(lines(r.stdout)).toEqual([{ n: 1 }]);
    const errs = (jsonLines(errors) as { line: number }[]).sort((a, b) => a.line - b.line);
    expect(errs).toEqual([
      { line: 2, input: 'nope', stage: 'parse', error: { class: 'SyntaxError', message: expect.any(String) } },
      { line: 3, input: { n: 3, fail: true }, stage: 'parse', error: { class: 'RangeError', message: 'item 3 is bad' }, attempts: 3 },
    ]);
  });

  it('SIGINT mid-run finishes in-flight items and exits 130; --resume then does every line exactly once', async () => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    const N = 1000;
    let text = '';
    for (let i = 1; i <= N; i++) text += `${JSON.stringify({ n: i, ms: 8, fail: i % 97 === 0 })}\n`;
    writeFileSync(input, text);
    const out = join(dir, 'out.jsonl');
    const errors = join(dir, 'errors.jsonl');
    const args = ['run', RECORDS, '--fn', 'slow,maybeFail', '-i', input, '-o', out, '-e', errors, '-w', '2'];
    const first = start(args);
    // Interrupt once some output has been flushed, well before the end (~4 s of work on 2 workers).
    for (let t = 0; t < 200; t++) {
      await delay(25);
      try {
        if (statSync(out).size > 0) break;
      } catch {}
    }
    first.child.kill('SIGINT');
    const r1 = await first.done;
    expect(r1.code).toBe(130);
    expect(r1.stderr).toContain('--resume');
    const done1 = jsonLines(out).length + jsonLines(errors).length;
    expect(done1).toBeGreaterThan(0);
    expect(done1).toBeLessThan(N);

    const r2 = await skein([...args, '--resume']);
    expect(r2.code).toBe(1); // the items that fail on purpose
    const okNs = ns(jsonLines(out));
    const errLines = (jsonLines(errors) as { line: number }[]).map((e) => e.line).sort((a, b) => a - b);
    const failing = range(1, N).filter((i) => i % 97 === 0);
    expect(errLines).toEqual(failing);
    expect(okNs).toEqual(range(1, N).filter((i) => i % 97 !== 0));
    expect(readFileSync(`${out}.joblog`, 'utf8').endsWith('\n')).toBe(true);
  });

  it('--ordered --resume after a second Ctrl-C keeps the whole output in input order, every line once', async () => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    const N = 1000;
    writeFileSync(input, numbered(N));
    // Line 1 holds the first batch while the other worker finishes the batches after it, which
    // --ordered holds back; the flag file makes it slow in the first run only.
    const flag = join(dir, 'slow');
    writeFileSync(flag, '');
    const mod = join(dir, 'tasks.mjs');
    writeFileSync(
      mod,
      `import { existsSync } from 'node:fs';
export default async (x) => {
  if (x.n === 1 && existsSync(${JSON.stringify(flag)})) {
    writeFileSync(${JSON.stringify(`${flag}.started`)}, '');
    await new Promise((r) => setTimeout(r, 10_000));
  }
  return x;
};
`.replace("import { existsSync } from 'node:fs';", "import { existsSync, writeFileSync } from 'node:fs';"),
    );
    const out = join(dir, 'out.jsonl');
    const args = ['run', mod, '--ordered', '-i', input, '-o', out, '-w', '2'];
    const first = start(args);
    // Once line 1 waits, the command's handlers are in place; the other worker then runs on.
    await until(() => existsSync(`${flag}.started`), 20_000, 'line 1 to start');
    await delay(500);
    first.child.kill('SIGINT');
    await delay(200);
    first.child.kill('SIGINT'); // a second Ctrl-C: line 1 is cut off
    expect((await first.done).code).toBe(130);
    unlinkSync(flag);
    const r = await skein([...args, '--resume']);
    expect(r.code).toBe(0);
    expect((jsonLines(out) as N[]).map((x) => x.n)).toEqual(range(1, N));
  });

  it('--ordered --resume after a run without --ordered is refused (its output cannot be put in order), files untouched; exit 2', async () => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    let text = '';
    for (let i = 1; i <= 400; i++) text += `${JSON.stringify({ n: i, fail: i === 100 })}\n`;
    writeFileSync(input, text);
    const out = join(dir, 'out.jsonl');
    const errors = join(dir, 'e.jsonl');
    const args = ['run', RECORDS, '--fn', 'maybeFail', '-i', input, '-o', out, '-e', errors, '-w', '2'];
    expect((await skein([...args, '--fail-fast'])).code).toBe(3);
    const before = [out, errors, `${out}.joblog`].map((f) => readFileSync(f, 'utf8'));
    const r = await skein([...args, '--ordered', '--resume']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--ordered --resume cannot keep the output in input order: the job log ${out}.joblog says an earlier run wrote its results in the order they finished (it ran without --ordered)`);
    expect([out, errors, `${out}.joblog`].map((f) => readFileSync(f, 'utf8'))).toEqual(before);
    // After an --ordered run, it goes on in order.
    const out2 = join(dir, 'out2.jsonl');
    const ordered = ['run', RECORDS, '--fn', 'maybeFail', '--ordered', '-i', input, '-o', out2, '-e', errors, '-w', '2'];
    expect((await skein([...ordered, '--fail-fast'])).code).toBe(3);
    expect((await skein([...ordered, '--resume'])).code).toBe(0);
    expect((jsonLines(out2) as N[]).map((x) => x.n)).toEqual(range(1, 400).filter((n) => n !== 100));
  });

  it('SIGINT while --rate holds the next item back stops at once, not when the next token comes', async () => {
    const dir = tmp();
    const out = join(dir, 'out.jsonl');
    // One item every 20 s: the first starts at once, the second waits for its token.
    const run = start(['run', RECORDS, '--fn', 'double', '-o', out, '--rate', '0.05/s'], numbered(5));
    for (let t = 0; t < 200; t++) {
      await delay(25);
      try {
        if (statSync(out).size > 0) break;
      } catch {}
    }
    const t0 = Date.now();
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.code).toBe(130);
    expect(jsonLines(out)).toEqual([{ n: 2 }]);
    expect(jsonLines(`${out}.joblog`)).toEqual([{ r: [1, 1], o: 8, e: 0 }]);
  });

  it('--resume after a completed run does nothing more; without a file output it is a usage error', async () => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, numbered(30));
    const out = join(dir, 'out.jsonl');
    expect((await skein(['run', RECORDS, '--fn', 'double', '-i', input, '-o', out])).code).toBe(0);
    expect((await skein(['run', RECORDS, '--fn', 'double', '-i', input, '-o', out, '--resume'])).code).toBe(0);
    expect(ns(jsonLines(out))).toEqual(range(1, 30).map((n) => n * 2));
    const r = await skein(['run', RECORDS, '--resume'], '');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--resume needs --output FILE');
  });

  // `script` (util-linux) runs the command on a terminal, where the bar is drawn.
  it.skipIf(!HAS_TERMINAL)('the progress bar counts the lines done, not the bytes read ahead: half the items is not 100%', async () => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    // ~5 KB: read in one chunk at once; ~1.5 s of work on 2 workers.
    writeFileSync(input, numbered(200, { ms: 15 }));
    const cmd = `${process.execPath} ${SKEIN} run ${RECORDS} --fn slow -i ${input} -o ${join(dir, 'out.jsonl')} -w 2`;
    const r = await onTerminal(cmd);
    const frames = [...r.matchAll(/(\d+)% \| (\d+) items/g)].map((m) => ({ pct: Number(m[1]), items: Number(m[2]) }));
    const midway = frames.filter((f) => f.items > 0 && f.items <= 100);
    expect(midway.length).toBeGreaterThan(0);
    for (const f of midway) expect(f.pct).toBeLessThanOrEqual(f.items / 2 + 10);
    expect(frames.at(-1)).toEqual({ pct: 100, items: 200 });
  });

  it.skipIf(!HAS_TERMINAL)('results written to the terminal the bar is on start on a line of their own, not after the bar', async () => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, numbered(30, { ms: 60 }));
    const cmd = `${process.execPath} ${SKEIN} run ${RECORDS} --fn slow -i ${input} -w 2`;
    const screen = await onTerminal(cmd);
    expect(screen).toContain('items |'); // the bar was drawn
    const shown = shownLines(screen);
    const results = shown.filter((l) => l.includes('{"n"'));
    expect(results).toHaveLength(30);
    for (const l of results) expect(l).toMatch(/^\{"n":\d+,"ms":60\}$/);
  });

  it('refuses --workers above 16 x the available cores with a usage error naming the limit, before any thread starts', async () => {
    const limit = Math.min(16 * availableCores(), 256);
    for (const n of [limit + 1, 100000]) {
      const t0 = performance.now();
      const r = await skein(['run', RECORDS, '--fn', 'double', '-w', String(n)], numbered(3));
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      const why = 16 * availableCores() <= 256 ? `16 x the ${availableCores()} available cores` : "a pool's most";
      expect(r.stderr).toBe(`skein: --workers ${n} is more than the limit of ${limit} worker threads (${why})\n`);
      expect(performance.now() - t0).toBeLessThan(5000);
    }
    const help = await skein(['run', '--help']);
    expect(help.stdout.replace(/\s+/g, ' ')).toContain(`--workers <n> worker threads, at most 16 per available core (${limit}) (default: ${availableCores()})`);
  });

  it('--help into a reader that goes away (skein run --help | head -1) ends quietly, not with an EPIPE stack trace', async () => {
    for (const args of [['--help'], ['run', '--help']]) {
      const child = spawn(process.execPath, [SKEIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.destroy(); // the reader is gone before the help is written
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
      expect(stderr).toBe('');
      expect(code).toBe(0);
    }
  });

  it('--help reads like a manual: usage, options, exit status, examples', async () => {
    const top = await skein(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('Usage: skein [options] [command]');
    expect(top.stdout).toContain('run [options] <task-module>');
    const run = await skein(['run', '--help']);
    expect(run.code).toBe(0);
    for (const s of ['--fn <names>', '--resume', 'Exit status:', '130', 'Examples:']) expect(run.stdout).toContain(s);
  });
});
