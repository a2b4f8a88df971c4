/**
 * `skein run`: streams a JSONL batch through a worker pool. The input is read a chunk at a time and
 * cut into batches of consecutive lines; a batch crosses to a worker as one string and its outputs
 * come back as one string (run-worker.ts), so the main thread's work is per batch, not per line. At
 * most `window` lines are out at once, and results are written as they finish (or in input order
 * with --ordered), so memory stays flat whatever the input's length.
 *
 * Several `--fn` names run in turn inside the batch's task (run-tasks.ts says why not through a
 * flow `Pipeline` by default; `--stages-via pipeline` runs them as one).
 */
import { fstatSync } from 'node:fs';
import { addAbortSignal } from 'node:stream';
import { FixedWorkerPool } from '../pool/index.js';
import { BatchWriter, type ErrorRecord } from './batch-writer.js';
import { ExitCode, UsageError } from './errors.js';
import { BatchCutter, type LineBatch as Batch, lineOf, readChunks } from './jsonl-reader.js';
import { Progress } from './progress.js';
import { type FileOptions, openFiles } from './run-files.js';
import { BatchSizer } from './batch-sizer.js';
import type { LineFailure, RunWorkerData } from './run-worker.js';
import { checkTaskModule } from './task-functions.js';
import { poolCannotStart, type RunTasks, type Settled, startTasks, type TaskOptions } from './run-tasks.js';

/** `skein run`'s options, parsed and checked (main.ts parses the command line). */
export interface RunConfig extends FileOptions, Pick<TaskOptions, 'stagesVia'> {
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

const WORKER = new URL('./run-worker.js', import.meta.url);
/** Lines out at once at least, and bytes out at most (a batch is always let out). */
const MIN_WINDOW = 512;
const MAX_WINDOW_BYTES = 32 * 1024 * 1024;
/** How long writes still go on after a second Ctrl-C before the run stops waiting for them. */
const FORCED_WRITE_GRACE_MS = 500;

/** A failure as written to the errors file: the input parsed back when it is JSON. */
function errorRecord(b: Batch, i: number, fail: LineFailure, attempts: number): ErrorRecord {
  const text = lineOf(b, i);
  let input: unknown = text;
  if (!fail.malformed) {
    try {
      input = JSON.parse(text);
    } catch {
      input = text;
    }
  }
  const rec: ErrorRecord = { line: b.first + i, input, stage: fail.stage, error: { class: fail.class, message: fail.message } };
  if (attempts > 1) rec.attempts = attempts;
  return rec;
}

/** Whether stdout and stderr are one pipe or socket (`2>&1 | head`): a reader gone from one is gone from both. */
function stdoutIsStderr(): boolean {
  try {
    const out = fstatSync(1);
    const err = fstatSync(2);
    return (out.isFIFO() || out.isSocket()) && out.dev === err.dev && out.ino === err.ino;
  } catch {
    return false;
  }
}

/** Runs the batch; resolves to the exit code (errors.ts `ExitCode`). Throws UsageError before starting. */
export async function runBatch(cfg: RunConfig): Promise<number> {
  const module = await checkTaskModule(cfg.module, cfg.fns);
  let fatal: Error | undefined;
  let stopped: 'SIGINT' | 'SIGTERM' | 'fail-fast' | 'fatal' | 'output closed' | undefined;
  // The output's reader went away (EPIPE): nothing more can be written (see onOutputError).
  let outputClosed = false;
  let forced = false;
  // Resolves at a second Ctrl-C: waits on the output end then (see untilForced).
  let onForced: () => void = () => {};
  const forcedStop = new Promise<void>((r) => (onForced = r));
  let wake: (() => void) | undefined;
  // Aborts once reading is to stop, so that a wait for the --rate limiter ends then too.
  const halt = new AbortController();
  // Set once the run stops, so that the workers do not start the batches still queued in the pool
  // (run-worker.ts NotRun): they are left for --resume with the lines not yet read.
  const stopMem = new SharedArrayBuffer(4);
  const poke = (): void => {
    if (stopped) {
      halt.abort();
      Atomics.store(new Int32Array(stopMem), 0, 1);
    }
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onFatal = (err: Error): void => {
    fatal ??= err;
    stopped ??= 'fatal';
    poke();
  };
  // The output's reader went away (`skein run ... | head`, a FIFO's reader gone): stop quietly, as a
  // Unix tool ended by SIGPIPE does, and at once, as a second Ctrl-C does: what is still running
  // could not be written anyway. It is not logged, so --resume runs it again (BatchWriter logs a
  // line only once its output is written, and writes nothing more after a failed write). The pool
  // is force-closed: the task module's teardown() is not waited for, as after a second Ctrl-C.
  // Any other failure of the output stops the run as a failure (exit 4).
  const onOutputError = (err: Error): void => {
    if ((err as NodeJS.ErrnoException).code !== 'EPIPE') return onFatal(err);
    if (outputClosed) return;
    outputClosed = true;
    stopped ??= 'output closed';
    forced = true;
    void pool.close({ force: true });
    poke();
  };
  const files = openFiles(
    cfg,
    onFatal,
    // Once reading has stopped (a signal, --fail-fast), the input's stream is let go, and Node's
    // stream then reports an AbortError: no failure of the run.
    (err) => {
      if (!stopped) onFatal(err);
    },
    onOutputError,
  );
  // Once the run stops, for whatever reason, reading stops too: a read still waiting on an input
  // that stays open (`tail -f log | skein run --fail-fast`) held the stop until the next line came.
  addAbortSignal(halt.signal, files.input);
  // Listened to before the pool starts: each worker pipes its stdout and stderr into the process's,
  // an 'error' listener each that Node adds without a warning; one more added after 9 or more workers
  // (the default on a machine with that many cores) printed a MaxListenersExceededWarning every run.
  process.stdout.on('error', onOutputError);
  // Without --errors FILE the errors go to stderr: one that cannot be written (closed: EPIPE) stops
  // the run as an output that cannot be written does, not in an uncaught error that exits 1 as if
  // all was written. Otherwise stderr carries only messages (main.ts lets their loss pass).
  // When stderr is the output's own pipe (`2>&1 | head`), its EPIPE is the output's reader gone.
  const stderrIsOutput = files.errToStderr && files.out === process.stdout && stdoutIsStderr();
  if (files.errToStderr) process.stderr.on('error', stderrIsOutput ? onOutputError : onFatal);
  // The workers boot (load their modules) while this thread sets up the rest.
  const workerData: RunWorkerData = { skeinRun: { module, fns: cfg.fns, stop: stopMem } };
  const pool = new FixedWorkerPool(cfg.workers, { filename: WORKER, workerData });
  let tasks: RunTasks;
  let progress: Progress;
  try {
    tasks = await startTasks(pool, cfg);
    progress = await Progress.start(files.inputBytes, cfg.progress);
  } catch (err) {
    await pool.close({ force: true });
    await files.close();
    throw err;
  }
  /**
   * Whether a flush failed because the output's reader went away: an EPIPE that the output stream
   * (or stderr, when it is the output's own pipe) failed with. A write's callback hears it before
   * the stream's 'error' event, which for an output file (a FIFO) comes only once its fd is closed,
   * so a flush may fail with it before onOutputError has run: it must not pass for a failure.
   */
  const outputGone = (err: unknown): boolean =>
    (err as NodeJS.ErrnoException | undefined)?.code === 'EPIPE' &&
    (files.out.errored === err || (stderrIsOutput && process.stderr.errored === err));
  const writer = new BatchWriter({
    out: files.out,
    err: files.err,
    log: files.log,
    outBytes: files.state.outBytes,
    errBytes: files.state.errBytes,
    // Results on the terminal the bar is drawn on would start after the bar, on its line.
    beforeOutWrite: files.out === process.stdout && process.stdout.isTTY ? () => progress.clearLine() : undefined,
    ordered: cfg.ordered,
  });

  const onSignal = (sig: 'SIGINT' | 'SIGTERM') => (): void => {
    if (stopped) {
      // A second signal, or one while the run already stops (--fail-fast, a failed output) and
      // waits on what is running: stop at once (that wait ignored every signal: a stuck item held
      // the run until SIGKILL). Items still out are not logged, so --resume runs them again.
      const again = stopped === 'SIGINT' || stopped === 'SIGTERM' ? ' again' : '';
      forced = true;
      process.stderr.write(`\nskein: ${sig}${again}, stopping now\n`);
      void pool.close({ force: true });
      onForced();
    } else {
      stopped = sig;
      files.input.destroy();
      // Said at once, as GNU parallel does: what the run now waits for, and how not to (a stuck
      // or long item holds it; nothing on the screen told why Ctrl-C seemed to do nothing).
      if (inFlight > 0) {
        process.stderr.write(`skein: ${sig}: no more input is read; waiting for the items running (${sig} again to stop now)\n`);
      }
      poke();
    }
  };
  /**
   * `p` (a wait on the output), given up shortly after a second Ctrl-C: an output whose reader does
   * not read (`| less` left open, a stuck FIFO) never takes the writes, and the run must still stop.
   * What was not written is not logged either (BatchWriter logs after the write), so --resume runs it.
   */
  const untilForced = (p: Promise<void>): Promise<void> => {
    const grace = (): Promise<void> => new Promise((r) => setTimeout(r, FORCED_WRITE_GRACE_MS).unref());
    return Promise.race([p, forced ? grace() : forcedStop.then(grace)]);
  };
  const onInt = onSignal('SIGINT');
  const onTerm = onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);

  // With --timeout or --rate each line is its own task: the timeout and the rate are per line.
  const sizer = new BatchSizer(cfg.workers, cfg.timeout || cfg.rate ? 1 : undefined);
  // Lines started and not yet written: bounds memory (and, with --ordered, the reorder buffer).
  const held = new Map<number, { b: Batch; s: Settled }>();
  let seq = 0;
  let nextWrite = 0;
  // With --ordered: a batch was written cut short (the run stopping as it ran).
  let cutShort = false;
  let outLines = 0;
  let outBytes = 0;
  let inFlight = 0;
  let items = 0;
  let failed = 0;
  let bytes = 0;
  // Input bytes of the lines finished (or skipped when resuming): what the bar and its ETA count.
  // Bytes read run ahead of them by up to the window: a small file is read whole at once.
  let doneBytes = 0;

  /**
   * Writes a batch's results and logs its lines as finished; false when the run was stopping as
   * the batch ran and the lines after its first ones were not run (left for --resume).
   */
  const record = (b: Batch, s: Settled): boolean => {
    doneBytes += b.bytes;
    outLines -= b.count;
    outBytes -= b.text.length;
    const res = s.res;
    if (typeof res === 'string') {
      items += b.count;
      writer.out(res);
      writer.finished(b.first, b.count);
      return true;
    }
    let out = '';
    for (let i = 0; i < res.length; i++) {
      const r = res[i];
      if (r === null) continue;
      items++;
      if (typeof r === 'string') out += `${r}\n`;
      else if (r !== 0) {
        failed++;
        writer.fail(errorRecord(b, i, r, s.attempts?.get(i) ?? 1), lineOf(b, i));
        if (cfg.failFast) stopped ??= 'fail-fast';
      }
    }
    writer.out(out);
    if (res.length > 0) writer.finished(b.first, res.length);
    return res.length === b.count;
  };
  const settle = (seqNo: number, b: Batch, s: Settled | undefined): void => {
    inFlight--;
    if (!s) {
      // Not run (the run was stopping) or cut off by a second signal: left for --resume.
      outLines -= b.count;
      outBytes -= b.text.length;
    } else if (!cfg.ordered) record(b, s);
    else {
      held.set(seqNo, { b, s });
      // A batch cut short is a gap, as one not run is: what follows it waits (see the end).
      for (let h = held.get(nextWrite); h && !cutShort; h = held.get(nextWrite)) {
        held.delete(nextWrite++);
        cutShort = !record(h.b, h.s);
      }
    }
    poke();
  };
  const runTask = async (b: Batch): Promise<Settled | undefined> => {
    if (b.notUtf8) return { res: [{ class: 'SyntaxError', message: `line ${b.first} is not valid UTF-8`, stage: 'parse', malformed: true }] };
    let s: Settled | undefined;
    try {
      s = await tasks.run(b);
      // Not run: the run was stopping when it came to the batch.
      if (!s) return undefined;
      sizer.done(b.count, performance.now());
      if (typeof s.res === 'string') return s;
      if (!forced && !(await tasks.retryFailed(b, s))) return undefined;
    } catch (err) {
      // The workers cannot load the task module: a usage error, not each line's failure. The
      // batch is left for --resume, once the module is mended.
      if (!poolCannotStart(err)) onFatal(err as Error);
      else {
        const why = (err.cause as Error | undefined)?.message ?? err.message;
        const what = err.name === 'WorkerSetupError' ? 'setup() failed' : 'cannot load';
        onFatal(new UsageError(`task module ${cfg.module}: ${what} in a worker thread: ${why}`, { cause: err }));
      }
      return undefined;
    }
    // After a forced stop a failure may be the stop itself: such a batch is left for --resume.
    return forced && s.res.some((r) => typeof r === 'object' && r !== null) ? undefined : s;
  };
  const start = (b: Batch): void => {
    const s = seq++;
    inFlight++;
    outLines += b.count;
    outBytes += b.text.length;
    void runTask(b).then((res) => settle(s, b, res));
  };
  const sleep = (): Promise<void> =>
    new Promise((r) => {
      wake = r;
    });
  const tick = setInterval(() => {
    progress.update({ items, failed, value: doneBytes });
    void writer.flush().catch(() => {});
  }, 200);
  tick.unref();

  const done = files.state.done;
  const skip = done.count > 0 ? (no: number) => done.has(no) : undefined;
  try {
    reading: for await (const chunk of readChunks(files.input, (n) => (bytes = n))) {
      const cutter = new BatchCutter(chunk);
      for (let b = cutter.take(sizer.size, skip); b; b = cutter.take(sizer.size, skip)) {
        const window = Math.max(MIN_WINDOW, cfg.workers * 4 * sizer.size);
        while ((outLines >= window || outBytes >= MAX_WINDOW_BYTES) && !stopped) await sleep();
        if (writer.full) await untilForced(writer.flush());
        await tasks.pace(halt.signal);
        if (stopped) break reading;
        start(b);
      }
      doneBytes += cutter.skippedBytes;
    }
  } catch (err) {
    if (outputGone(err)) onOutputError(err as Error); // a flush of the loop's (writer.full)
    if (!stopped) {
      fatal ??= err as Error;
      stopped = 'fatal';
    }
  }
  while (inFlight > 0) await sleep();
  clearInterval(tick);
  process.off('SIGINT', onInt);
  process.off('SIGTERM', onTerm);
  // Results still held back for order wait behind a batch that never finished (a forced stop, the
  // pool broken). With a job log they are left for --resume: written past the gap, the gap's lines
  // would come after them when resumed, out of the input order (joblog.ts). Without one, nothing
  // will resume: they are written as they are, in order, gaps and all.
  if (!files.log) for (const k of [...held.keys()].sort((x, y) => x - y)) record(held.get(k)!.b, held.get(k)!.s);
  try {
    await untilForced(writer.flush());
  } catch (err) {
    // The output's reader went away (heard by onOutputError, or first here): no failure of the run.
    if (outputGone(err)) onOutputError(err as Error);
    else if (!(outputClosed && (err as NodeJS.ErrnoException).code === 'EPIPE')) fatal ??= err as Error;
  }
  progress.update({ items, failed, value: stopped ? doneBytes : bytes });
  // The bar stops once the workers have left: what they printed last (a worker's prints reach this
  // thread apart from its results, and may come after them; teardown()'s) is shown above it.
  await pool.close();
  progress.stop();
  await untilForced(files.close());
  if (files.input !== process.stdin) files.input.destroy();
  else process.stdin.pause();
  return finish({ stopped, fatal, items, failed, cfg, logPath: files.logPath });
}

function finish(r: {
  stopped: string | undefined;
  fatal: Error | undefined;
  items: number;
  failed: number;
  cfg: RunConfig;
  logPath: string | undefined;
}): number {
  const say = (s: string): boolean => process.stderr.write(`skein: ${s}\n`);
  const where = r.cfg.errors && r.cfg.errors !== '-' ? ` (see ${r.cfg.errors})` : '';
  // A failure of the command itself comes first, whatever else stopped the run (a signal,
  // --fail-fast): output that could not be written must not pass for written.
  if (r.fatal) {
    say(`stopped: ${r.fatal.message}`);
    return r.fatal instanceof UsageError ? ExitCode.Usage : ExitCode.Fatal;
  }
  // No message: the reader that went away asked for no more (errors.ts OutputClosed says why 141).
  if (r.stopped === 'output closed') return ExitCode.OutputClosed;
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
