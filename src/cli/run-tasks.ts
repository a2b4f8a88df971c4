/**
 * How `skein run` runs a batch on its pool: one pool task per batch through run-worker.ts's default
 * export, which runs every `--fn` stage in turn; or, with `--stages-via pipeline`, a flow `Pipeline`
 * whose stages are the `--fn` names (fused into one chain task per batch on the pool). The pool path
 * is the default because it measured faster (bench/cli.ts runs both; bench/RESULTS.md): the
 * Pipeline's modules cost start-up time in the main thread and in every worker. Then per-line
 * retries of the lines that failed, and the `--rate` pace. The resilience and flow layers are loaded
 * only when used, so a plain run starts with the pool alone.
 */
import type { WorkerPool } from '../pool/index.js';
import { type LineBatch, lineOf } from './jsonl-reader.js';
import type { BatchResult, LineFailure, LineResult, NotRun } from './run-worker.js';

/** What a batch came to: its result, and how many tries each retried line had. */
export interface Settled {
  res: BatchResult;
  attempts?: Map<number, number>;
}

export interface RunTasks {
  /**
   * One try of a batch; a failure of the task as a whole (timeout, crash) fails each of its lines.
   * Undefined when the run was stopping (run-worker.ts `NotRun`) before the batch, or a line of it
   * run alone, started: the batch is left for --resume. Rejects when the pool cannot start
   * ({@link poolCannotStart}); so does retryFailed.
   */
  run(b: LineBatch): Promise<Settled | undefined>;
  /**
   * Tries the failed lines of `s` again, one task each, under --retries; updates `s`. False when
   * a retry did not start because the run was stopping: the batch is then left for --resume.
   */
  retryFailed(b: LineBatch, s: Settled): Promise<boolean>;
  /**
   * Waits for the --rate limiter's next token (at once without --rate); returns early, without
   * one, once `signal` aborts (a stop must not wait out the rate).
   */
  pace(signal?: AbortSignal): Promise<void>;
}

export interface TaskOptions {
  fns: string[];
  /**
   * How several `--fn` stages run: 'pool' (default), one pool task per batch running them in turn;
   * 'pipeline', a flow Pipeline's stages fused in the workers (not with --timeout: a line's time
   * limit is the pool's task timeout, which replaces a stuck worker).
   */
  stagesVia?: 'pipeline' | 'pool';
  retries: number;
  timeout: number | undefined;
  rate: number | undefined;
}

/** A failure of the task as a whole (timeout, crashed worker) as one line's failure. */
function taskFailure(err: unknown): LineFailure {
  // A Pipeline reports a stage that failed as a whole with StageFailedError; what failed is its cause.
  const e = ((err as { name?: unknown })?.name === 'StageFailedError' ? (err as { error: unknown }).error : err) as {
    name?: unknown;
    message?: unknown;
  } | null;
  return {
    class: typeof e?.name === 'string' ? e.name : 'Error',
    message: typeof e?.message === 'string' ? e.message : String(err),
    stage: null,
  };
}

/**
 * Whether `err` says the pool can run nothing at all: its workers cannot load the task module (or
 * never finish loading it), or its setup() fails. Every task fails so, so this is no line's
 * failure: the run stops.
 */
export function poolCannotStart(err: unknown): err is Error {
  const name = (err as { name?: unknown } | null)?.name;
  return name === 'WorkerModuleError' || name === 'WorkerBootError' || name === 'WorkerSetupError';
}

/** Whether `err` says the pool is closing (a second Ctrl-C): no failure of the batch's lines. */
function stopping(err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name;
  return name === 'PoolClosedError' || name === 'AbortError';
}

/** Thrown inside a retry so that RetryPolicy sees a line's failure as an error. */
class LineFailed extends Error {
  constructor(readonly fail: LineFailure) {
    super(fail.message);
  }
}

/** Thrown inside a retry whose try did not start because the run was stopping. */
class NotStarted extends Error {}

/** A one-line batch's result as that line's result; undefined when it did not run. */
function oneLine(r: BatchResult | NotRun): LineResult | undefined {
  if (r === null) return undefined;
  return typeof r === 'string' ? r.slice(0, -1) : r[0];
}

export async function startTasks(pool: WorkerPool, o: TaskOptions): Promise<RunTasks> {
  const submitOpts = o.timeout ? { timeout: o.timeout } : undefined;
  let once: (text: string) => Promise<BatchResult | NotRun> = (text) => pool.submit<BatchResult | NotRun>(text, submitOpts);
  if (o.fns.length > 1 && !o.timeout && o.stagesVia === 'pipeline') {
    // The pipeline runs one try per batch: a line's failure is kept in the batch's result (a stage
    // sees its lines one by one), so a stage as a whole fails only when its worker does. Order is
    // kept by run.ts, across batches.
    const { Pipeline } = await import('../flow/index.js');
    let pipeline = new Pipeline<string, unknown>({ ordered: false });
    const seen = new Set<string>();
    for (const [j, fn] of o.fns.entries()) {
      const name = seen.has(fn) ? `${fn}#${j + 1}` : fn;
      seen.add(name);
      pipeline = pipeline.stage(name, { pool, fn: 'stage' }, { concurrency: 1024 });
    }
    once = (text) => pipeline.process(text) as Promise<BatchResult | NotRun>;
  }
  const resilience = o.retries > 0 || o.rate ? await import('../resilience/index.js') : undefined;
  // Retries after a line's first try (made inside its batch), one line per task.
  const retry =
    resilience && o.retries > 0
      ? new resilience.RetryPolicy({ maxAttempts: o.retries, backoff: 'exponential', initialDelay: 10, maxDelay: 1000 })
      : undefined;
  const bucket =
    resilience && o.rate
      ? new resilience.TokenBucket({ capacity: Math.max(1, Math.ceil(o.rate / 10)), refillPerSecond: o.rate })
      : undefined;

  const retryLine = async (text: string): Promise<{ r: LineResult | undefined; attempts: number }> => {
    let attempts = 1;
    try {
      const r = await retry!.execute(async ({ attempt }) => {
        attempts = attempt + 1;
        const one = oneLine(await pool.submit<BatchResult | NotRun>(text, submitOpts));
        if (one === undefined) throw new NotStarted();
        if (typeof one === 'object' && one !== null) throw new LineFailed(one);
        return one;
      });
      return { r, attempts };
    } catch (err) {
      if (poolCannotStart(err)) throw err;
      if (err instanceof NotStarted) return { r: undefined, attempts };
      return { r: err instanceof LineFailed ? err.fail : taskFailure(err), attempts };
    }
  };

  /** One line of a batch that failed as a whole, as its own task. */
  const alone = async (text: string): Promise<LineResult | undefined> => {
    if (text.trim() === '') return null;
    try {
      return oneLine(await once(text));
    } catch (err) {
      if (poolCannotStart(err)) throw err;
      return taskFailure(err);
    }
  };

  return {
    async run(b) {
      try {
        const res = await once(b.text);
        return res === null ? undefined : { res };
      } catch (err) {
        if (poolCannotStart(err)) throw err;
        // A crash (or a worker out of memory) takes the whole batch with it, though only the line
        // its worker was running caused it: each line runs again as its own task, so that only
        // that line fails. Not when the pool is closing: that is a forced stop, left for --resume.
        if (b.count > 1 && !stopping(err)) {
          const res = await Promise.all(Array.from({ length: b.count }, (_, i) => alone(lineOf(b, i))));
          return res.includes(undefined) ? undefined : { res: res as LineResult[] };
        }
        const fail = taskFailure(err);
        const res: LineResult[] = [];
        for (let i = 0; i < b.count; i++) res.push(lineOf(b, i).trim() === '' ? null : fail);
        return { res };
      }
    },
    async retryFailed(b, s) {
      const res = s.res;
      if (!retry || typeof res === 'string') return true;
      let started = true;
      const again: Promise<void>[] = [];
      for (let i = 0; i < res.length; i++) {
        const r = res[i];
        if (typeof r !== 'object' || r === null || r.malformed) continue;
        again.push(
          retryLine(lineOf(b, i)).then(({ r: now, attempts }) => {
            if (now === undefined) started = false;
            else res[i] = now;
            (s.attempts ??= new Map()).set(i, attempts);
          }),
        );
      }
      await Promise.all(again);
      return started;
    },
    async pace(signal) {
      if (!bucket || signal?.aborted) return;
      try {
        await bucket.acquire(1, { signal });
      } catch (err) {
        if (!signal?.aborted) throw err;
      }
    },
  };
}
