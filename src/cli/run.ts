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
import type { LineFailure, LineResult, RunWorkerData } from './run-worker.js';
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

/** One input line's outcome: its output (0: none), or its failure and how many tries it had. */
type Outcome = { ok: true; json: string | 0 } | { ok: false; fail: LineFailure; attempts: number };
interface Item {
  no: number;
  text: string;
}

const WORKER = new URL('./run-worker.js', import.meta.url);

/** A failure as written to the errors file: the input parsed back when it is JSON. */
function errorRecord(item: Item, fail: LineFailure, attempts: number): ErrorRecord {
  let input: unknown = item.text;
  if (fail.stage !== 'parse') {
    try {
      input = JSON.parse(item.text);
    } catch {
      input = item.text;
    }
  }
  const rec: ErrorRecord = { line: item.no, input, stage: fail.stage, error: { class: fail.class, message: fail.message } };
  if (attempts > 1) rec.attempts = attempts;
  return rec;
}

/** A failure of the task as a whole (timeout, crashed worker) as one line's failure. */
function taskFailure(err: unknown): LineFailure {
  const e = err as { name?: unknown; message?: unknown } | null;
  return {
    class: typeof e?.name === 'string' ? e.name : 'Error',
    message: typeof e?.message === 'string' ? e.message : String(err),
    stage: null,
  };
}

/** Thrown inside a retry so that RetryPolicy sees a line's failure as an error. */
class LineFailed extends Error {
  constructor(readonly fail: LineFailure) {
    super(fail.message);
  }
}

/** Lines per task: enough to pay the per-task cost rarely, few enough that every worker gets some. */
function batchSize(lines: number, workers: number): number {
  return Math.max(1, Math.min(64, Math.ceil(lines / (workers * 2))));
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
  // Retries after a line's first try (made inside its batch), one line per task.
  const retry =
    cfg.retries > 0
      ? new RetryPolicy({ maxAttempts: cfg.retries, backoff: 'exponential', initialDelay: 10, maxDelay: 1000 })
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

  // Lines started and not yet written: bounds memory (and, with --ordered, the reorder buffer).
  const window = Math.max(512, cfg.workers * 256);
  const held = new Map<number, { batch: Item[]; res: Outcome[] }>();
  let seq = 0;
  let nextWrite = 0;
  let outstanding = 0;
  let inFlight = 0;
  let items = 0;
  let failed = 0;
  let bytes = 0;

  const record = (batch: Item[], res: Outcome[]): void => {
    outstanding -= batch.length;
    for (let i = 0; i < batch.length; i++) {
      const o = res[i];
      items++;
      if (o.ok) writer.ok(batch[i].no, o.json === 0 ? undefined : o.json);
      else {
        failed++;
        writer.fail(errorRecord(batch[i], o.fail, o.attempts));
        if (cfg.failFast) stopped ??= 'fail-fast';
      }
    }
  };
  const settle = (s: number, batch: Item[], res: Outcome[] | undefined): void => {
    inFlight--;
    if (!res) outstanding -= batch.length; // cut off by a second signal: left for --resume
    else if (!cfg.ordered) record(batch, res);
    else {
      held.set(s, { batch, res });
      for (let h = held.get(nextWrite); h; h = held.get(nextWrite)) {
        held.delete(nextWrite++);
        record(h.batch, h.res);
      }
    }
    poke();
  };
  const retryLine = async (item: Item): Promise<Outcome> => {
    let attempts = 1;
    try {
      const json = await retry!.execute(async ({ attempt }) => {
        attempts = attempt + 1;
        const [r] = await pool.submit<LineResult[]>(item.text, submitOpts);
        if (typeof r === 'object') throw new LineFailed(r);
        return r;
      });
      return { ok: true, json };
    } catch (err) {
      return { ok: false, fail: err instanceof LineFailed ? err.fail : taskFailure(err), attempts };
    }
  };
  const runTask = async (batch: Item[]): Promise<Outcome[] | undefined> => {
    let results: LineResult[];
    try {
      results = await pool.submit<LineResult[]>(batch.map((b) => b.text).join('\n'), submitOpts);
    } catch (err) {
      if (forced) return undefined;
      results = batch.map(() => taskFailure(err));
    }
    const res = results.map((r): Outcome => (typeof r === 'object' ? { ok: false, fail: r, attempts: 1 } : { ok: true, json: r }));
    if (retry && !forced) {
      const again = res.map((r, i) => (!r.ok && r.fail.stage !== 'parse' ? retryLine(batch[i]).then((o) => (res[i] = o)) : undefined));
      await Promise.all(again);
    }
    return forced && res.some((r) => !r.ok) ? undefined : res;
  };
  const start = (batch: Item[]): void => {
    const s = seq++;
    inFlight++;
    outstanding += batch.length;
    void runTask(batch).then((res) => settle(s, batch, res));
  };
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
    reading: for await (const lines of readLines(files.input, (n) => (bytes = n))) {
      // With --timeout or --rate each line is its own task: the timeout and the rate are per line.
      const size = cfg.timeout || cfg.rate ? 1 : batchSize(lines.length, cfg.workers);
      let batch: Item[] = [];
      for (const item of lines) {
        if (files.state.done.has(item.no)) continue;
        batch.push(item);
        if (batch.length < size && item !== lines[lines.length - 1]) continue;
        while (outstanding >= window && !stopped) await sleep();
        if (writer.full) await writer.flush();
        if (bucket) await bucket.acquire();
        if (stopped) break reading;
        start(batch);
        batch = [];
      }
      if (batch.length > 0 && !stopped) start(batch);
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
  for (const k of [...held.keys()].sort((x, y) => x - y)) record(held.get(k)!.batch, held.get(k)!.res);
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
