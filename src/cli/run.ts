/**
 * `skein run`: streams a JSONL batch through a worker pool. Lines are read a chunk at a time, at
 * most `window` items are out at once, and results are written as they finish (or in input order
 * with --ordered), so memory stays flat whatever the input's length.
 */
import { FixedWorkerPool, RetryPolicy, TokenBucket } from '../index.js';
import { BatchWriter, type ErrorRecord } from './batch-writer.js';
import { ExitCode } from './errors.js';
import { readLines } from './jsonl-reader.js';
import { Progress } from './progress.js';
import { type FileOptions, openFiles } from './run-files.js';
import type { RunWorkerData } from './run-worker.js';
import { checkTaskModule } from './task-functions.js';

/** `skein run`'s options, parsed and checked (main.ts parses the command line). */
export interface RunConfig extends FileOptions {
  module: string;
  fns: string[];
  workers: number;
  retries: number;
  timeout: number | undefined;
  /** Items started per second at most. */
  rate: number | undefined;
  ordered: boolean;
  failFast: boolean;
  /** Draw the progress bar (default: when stderr is a terminal). */
  progress?: boolean;
}

type Outcome = { ok: true; json: string | undefined } | { ok: false; err: unknown; attempts: number };

const WORKER = new URL('./run-worker.js', import.meta.url);

function errorRecord(no: number, text: string, err: unknown, attempts: number): ErrorRecord {
  const e = err as { name?: string; message?: string; skeinStage?: string; constructor?: { name?: string } };
  const malformed = e?.name === 'MalformedLineError';
  let input: unknown = text;
  if (!malformed) {
    try {
      input = JSON.parse(text);
    } catch {
      input = text;
    }
  }
  const rec: ErrorRecord = {
    line: no,
    input,
    stage: malformed ? 'parse' : (e?.skeinStage ?? null),
    error: {
      class: malformed ? 'SyntaxError' : String(e?.name ?? e?.constructor?.name ?? 'Error'),
      message: String(e?.message ?? err),
    },
  };
  if (attempts > 1) rec.attempts = attempts;
  return rec;
}

/** Runs the batch; resolves to the exit code (errors.ts `ExitCode`). Throws UsageError before starting. */
export async function runBatch(cfg: RunConfig): Promise<number> {
  const module = await checkTaskModule(cfg.module, cfg.fns);
  let fatal: Error | undefined;
  let stopped: 'SIGINT' | 'SIGTERM' | 'fail-fast' | 'fatal' | undefined;
  let wake: (() => void) | undefined;
  const poke = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const files = openFiles(cfg, (err) => {
    fatal ??= err;
    stopped ??= 'fatal';
    poke();
  });
  process.stdout.on('error', (err) => {
    fatal ??= err;
    stopped ??= 'fatal';
    poke();
  });
  const progress = new Progress(files.inputBytes, cfg.progress);
  const writer = new BatchWriter({
    out: files.out,
    err: files.err,
    log: files.log,
    outBytes: files.state.outBytes,
    errBytes: files.state.errBytes,
    beforeErrWrite: files.errToStderr ? () => progress.clearLine() : undefined,
  });
  const workerData: RunWorkerData = { skeinRun: { module, fns: cfg.fns } };
  const pool = new FixedWorkerPool(cfg.workers, { filename: WORKER, workerData });
  const retry =
    cfg.retries > 0
      ? new RetryPolicy({
          maxAttempts: cfg.retries + 1,
          backoff: 'exponential',
          initialDelay: 10,
          maxDelay: 1000,
          retryIf: (err) => (err as Error)?.name !== 'MalformedLineError',
        })
      : undefined;
  const bucket = cfg.rate
    ? new TokenBucket({ capacity: Math.max(1, Math.ceil(cfg.rate / 10)), refillPerSecond: cfg.rate })
    : undefined;
  const submitOpts = cfg.timeout ? { timeout: cfg.timeout } : undefined;

  let forced = false;
  const onSignal = (sig: 'SIGINT' | 'SIGTERM') => (): void => {
    if (stopped === 'SIGINT' || stopped === 'SIGTERM') {
      // A second signal: stop at once. Items still out are not logged, so --resume runs them again.
      forced = true;
      process.stderr.write(`\nskein: ${sig} again, stopping now\n`);
      void pool.close({ force: true });
    } else {
      stopped ??= sig;
      files.input.destroy();
      poke();
    }
  };
  const onInt = onSignal('SIGINT');
  const onTerm = onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);

  const window = Math.max(256, cfg.workers * 128);
  const done = new Map<number, { no: number; text: string; o: Outcome }>();
  let seq = 0;
  let nextWrite = 0;
  let inFlight = 0;
  let items = 0;
  let failed = 0;
  let bytes = 0;

  const record = (no: number, text: string, o: Outcome): void => {
    items++;
    if (o.ok) writer.ok(no, o.json);
    else {
      failed++;
      writer.fail(errorRecord(no, text, o.err, o.attempts));
      if (cfg.failFast) stopped ??= 'fail-fast';
    }
  };
  const settle = (s: number, no: number, text: string, o: Outcome): void => {
    inFlight--;
    if (forced && !o.ok) return; // cut off by the second signal: left for --resume
    if (!cfg.ordered) record(no, text, o);
    else {
      done.set(s, { no, text, o });
      for (let d = done.get(nextWrite); d; d = done.get(nextWrite)) {
        done.delete(nextWrite++);
        record(d.no, d.text, d.o);
      }
    }
    poke();
  };
  const start = (no: number, text: string): void => {
    const s = seq++;
    inFlight++;
    let attempts = 1;
    const run = retry
      ? retry.execute(({ attempt }) => {
          attempts = attempt;
          return pool.submit<string | undefined>(text, submitOpts);
        })
      : pool.submit<string | undefined>(text, submitOpts);
    run.then(
      (json) => settle(s, no, text, { ok: true, json }),
      (err: unknown) => settle(s, no, text, { ok: false, err, attempts }),
    );
  };
  const hasRoom = (): boolean => (cfg.ordered ? seq - nextWrite < window : inFlight < window);
  const sleep = (): Promise<void> =>
    new Promise((r) => {
      wake = r;
    });
  const tick = setInterval(() => {
    progress.update({ items, failed, value: bytes });
    void writer.flush().catch(() => {});
  }, 200);
  tick.unref();

  try {
    reading: for await (const batch of readLines(files.input, (n) => (bytes = n))) {
      for (const { no, text } of batch) {
        if (stopped) break reading;
        if (files.state.done.has(no)) continue;
        while (!hasRoom() && !stopped) await sleep();
        if (writer.full) await writer.flush();
        if (bucket) await bucket.acquire();
        if (stopped) break reading;
        start(no, text);
      }
    }
  } catch (err) {
    if (!stopped) {
      fatal ??= err as Error;
      stopped = 'fatal';
    }
  }
  while (inFlight > 0) await sleep();
  clearInterval(tick);
  process.off('SIGINT', onInt);
  process.off('SIGTERM', onTerm);
  // After a forced stop, results held back for order are written as they are, gaps and all.
  for (const s of [...done.keys()].sort((a, b) => a - b)) {
    const d = done.get(s)!;
    record(d.no, d.text, d.o);
  }
  try {
    await writer.flush();
  } catch (err) {
    fatal ??= err as Error;
  }
  progress.update({ items, failed, value: bytes });
  progress.stop();
  await pool.close();
  await files.close();
  if (files.input !== process.stdin) files.input.destroy();
  else process.stdin.pause();
  return finish({ stopped, fatal, items, failed, resumed: files.state.done.count, cfg, logPath: files.logPath });
}

function finish(r: {
  stopped: string | undefined;
  fatal: Error | undefined;
  items: number;
  failed: number;
  resumed: number;
  cfg: RunConfig;
  logPath: string | undefined;
}): number {
  const say = (s: string): boolean => process.stderr.write(`skein: ${s}\n`);
  const where = r.cfg.errors && r.cfg.errors !== '-' ? ` (see ${r.cfg.errors})` : '';
  if (r.fatal && r.stopped === 'fatal') {
    say(`stopped: ${r.fatal.message}`);
    return ExitCode.Fatal;
  }
  if (r.stopped === 'SIGINT' || r.stopped === 'SIGTERM') {
    const how = r.logPath ? `; run again with --resume to finish (job log ${r.logPath})` : '';
    say(`${r.stopped}: stopped after ${r.items} items, ${r.failed} failed${how}`);
    return r.stopped === 'SIGINT' ? ExitCode.Interrupted : ExitCode.Terminated;
  }
  if (r.stopped === 'fail-fast') {
    say(`--fail-fast: stopped at the first failure after ${r.items} items${where}`);
    return ExitCode.FailFast;
  }
  if (r.failed > 0) {
    say(`${r.failed} of ${r.items} items failed${where}`);
    return ExitCode.ItemsFailed;
  }
  return ExitCode.Ok;
}
