/**
 * The task module `skein run` starts its pool with. It loads the user's task module and runs batches
 * of JSONL lines through the `--fn` stages inside the worker: a batch crosses to the worker as one
 * string (raw lines joined by '\n') and comes back as one string of output lines, so splitting,
 * JSON.parse and JSON.stringify all happen here, off the main thread, and the main thread's work is
 * per batch, not per line.
 *
 * A batch runs stage by stage (every line through stage 1, then through stage 2, ...), as separate
 * tasks on this worker would: one line's failure does not touch the others. Two ways in:
 *  - the default export runs every stage at once (one `pool.submit` per batch);
 *  - {@link stage} runs one stage per call, so the stages can be a flow `Pipeline`'s stages: on one
 *    pool they are fused into one chain task (`skein:chain`), and the batch's state between stages
 *    never leaves the worker.
 *
 * Its configuration arrives as `workerData.skeinRun` (see {@link RunWorkerData}).
 */
import { workerData } from 'node:worker_threads';
import { findFunction, stdoutToStderr } from './task-functions.js';
import { isThenable } from '../memory/thenable.js';
import { lifeCycleHook, loadTaskModule } from '../pool/worker-api.js';

/** What `skein run` puts in each worker's `workerData`. */
export interface RunWorkerData {
  /**
   * `stop` (an Int32Array's memory, one cell) reads 1 once the run is stopping (a signal,
   * --fail-fast): a batch that starts after that is not run (see {@link NOT_RUN}).
   */
  skeinRun: { module: string; fns: string[]; stop?: SharedArrayBuffer };
}

/**
 * What a task returns for a batch it did not run because the run was stopping when it started: a
 * batch still queued in the pool when Ctrl-C came is left for --resume, as the lines not yet read
 * are (only the batches already running finish). (A type: run.ts must not import this module.)
 */
export type NotRun = null;
const NOT_RUN: NotRun = null;

type StageFn = (input: unknown, ctx: unknown) => unknown;

const { module, fns, stop: stopMem } = (workerData as RunWorkerData).skeinRun;
const stop = stopMem ? new Int32Array(stopMem) : undefined;
const stopping = (): boolean => stop !== undefined && Atomics.load(stop, 0) === 1;
// The module's own prints go to stderr: stdout carries the results only.
stdoutToStderr();
// As a pool's worker loads a task module: a .ts file too, under tsx on a Node whose workers miss tsx's hooks.
const mod = await loadTaskModule(module);
const names = fns.length > 0 ? fns : [''];
const stages: StageFn[] = names.map((n) => findFunction(mod, n, module) as StageFn);
// Several stages run as a Pipeline's fused chain: the builtin behind it must be registered here
// (pool workers of a process that imported the package root get it by preload; `skein run` does not).
if (names.length > 1) await import('../flow/pipeline/chain-task.js');

/**
 * The task module's `setup(ctx)`, run by the pool once per worker before its first batch, as it
 * would run it for the module itself (its `workerData` is the module's none, not this file's).
 */
export async function setup(ctx: { workerId: number }): Promise<void> {
  await lifeCycleHook(mod, 'setup')?.({ workerId: ctx.workerId, workerData: undefined });
}

/** The task module's `teardown()`, run when the worker leaves (the run's end). */
export async function teardown(): Promise<void> {
  await lifeCycleHook(mod, 'teardown')?.();
}

/** How a line failed, flattened so a batch's failures cross back as plain data. */
export interface LineFailure {
  class: string;
  message: string;
  /** The stage that threw, 'parse' for a malformed line, null when unknown. */
  stage: string | null;
  /**
   * Set for a line that is not JSON (or not UTF-8): what tells it from a failure of a `--fn parse`
   * stage, whose input is JSON (written parsed in its error record) and which --retries tries again.
   */
  malformed?: true;
}

/**
 * Per line of a batch: its output JSON, 0 for no output (the last stage returned undefined), its
 * failure, or null for a blank line (not an item).
 */
export type LineResult = string | 0 | LineFailure | null;

/**
 * A batch's result: when every line was an item that succeeded with an output, those outputs as
 * one string, each line ending in '\n' (the common case: one string back, written as it is);
 * otherwise one {@link LineResult} per line. That array is shorter than the batch when the run
 * was stopping as the batch ran: the lines after it were not run (left for --resume).
 */
export type BatchResult = string | LineResult[];

/**
 * A batch between stages: `next` is the stage to run; res[i] is set once line i is settled early;
 * lines from `cut` on are not run (the run was stopping when a stage came to the first of them).
 */
export interface BatchState {
  next: number;
  vals: unknown[];
  res: (LineFailure | null | undefined)[];
  settled: number;
  cut: number;
}

function failure(err: unknown, stage: string | null): LineFailure {
  const e = err as { name?: unknown; message?: unknown } | null;
  return {
    class: typeof e?.name === 'string' ? e.name : 'Error',
    message: typeof e?.message === 'string' ? e.message : String(err),
    stage,
  };
}

/** Splits and parses a batch: blank lines and malformed ones are settled at once. */
function parse(text: string): BatchState {
  const lines = text.split('\n');
  const s: BatchState = { next: 0, vals: new Array<unknown>(lines.length), res: new Array(lines.length), settled: 0, cut: lines.length };
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i];
    if (line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
    if (line.trim() === '') {
      s.res[i] = null;
      s.settled++;
      continue;
    }
    try {
      s.vals[i] = JSON.parse(line);
    } catch (err) {
      s.res[i] = { class: 'SyntaxError', message: (err as Error).message, stage: 'parse', malformed: true };
      s.settled++;
    }
  }
  return s;
}

/**
 * Runs stage `s.next` on every unsettled line; stays synchronous while the stage does. Once the run
 * is stopping, it starts no further line: a stop waits for the line running, not for the rest of
 * its batch (up to thousands of lines; 8 at first, however long each takes).
 */
function runStage(s: BatchState, ctx: unknown): void | Promise<void> {
  const j = s.next++;
  const f = stages[j];
  for (let i = 0; i < s.cut; i++) {
    if (s.res[i] !== undefined) continue;
    if (stopping()) {
      s.cut = i;
      return;
    }
    let v: unknown;
    try {
      v = f(s.vals[i], ctx);
    } catch (err) {
      s.res[i] = failure(err, names[j] || 'default');
      s.settled++;
      continue;
    }
    if (isThenable(v)) return finishStage(s, j, i, v, ctx);
    s.vals[i] = v;
  }
}

/** The rest of stage `j` once line `i` returned a promise: lines one after another, as before. */
async function finishStage(s: BatchState, j: number, i: number, first: PromiseLike<unknown>, ctx: unknown): Promise<void> {
  const f = stages[j];
  for (let k = i; k < s.cut; k++) {
    if (s.res[k] !== undefined) continue;
    if (k !== i && stopping()) {
      s.cut = k;
      return;
    }
    try {
      s.vals[k] = await (k === i ? first : f(s.vals[k], ctx));
    } catch (err) {
      s.res[k] = failure(err, names[j] || 'default');
      s.settled++;
    }
  }
}

/** The batch's result once every stage ran (see {@link BatchResult}); NOT_RUN when no line was. */
function output(s: BatchState): BatchResult | typeof NOT_RUN {
  if (s.cut === 0) return NOT_RUN;
  if (s.settled === 0 && s.cut === s.vals.length) {
    let out = '';
    let i = 0;
    for (; i < s.vals.length; i++) {
      const json = stringify(s.vals[i]);
      if (typeof json !== 'string') break;
      out += `${json}\n`;
    }
    if (i === s.vals.length) return out;
  }
  const res: LineResult[] = new Array<LineResult>(s.cut);
  for (let i = 0; i < s.cut; i++) {
    const r = s.res[i];
    res[i] = r !== undefined ? r : (stringify(s.vals[i]) ?? 0);
  }
  return res;
}

/**
 * A line's output JSON, undefined for none (the task returned undefined), or its failure: a value
 * JSON cannot write. A function or a symbol is one too: JSON.stringify gives undefined for them, and
 * taking that as "none" wrote nothing for the line and counted it done, losing it silently.
 */
function stringify(v: unknown): string | undefined | LineFailure {
  if (v === undefined) return undefined;
  try {
    const json = JSON.stringify(v);
    if (json !== undefined) return json;
    // (an object whose toJSON() returns undefined lands here too)
    return failure(new TypeError(`the result (${typeof v}) cannot be written as JSON`), null);
  } catch (err) {
    return failure(err, null);
  }
}

/**
 * One Pipeline stage over a batch: the first call takes the batch's text, the last returns its
 * {@link BatchResult}; in between the {@link BatchState} stays in this worker (a fused chain).
 */
export function stage(
  input: string | BatchState | typeof NOT_RUN,
  ctx: unknown,
): BatchState | BatchResult | typeof NOT_RUN | Promise<BatchState | BatchResult | typeof NOT_RUN> {
  if (input === NOT_RUN || (typeof input === 'string' && stopping())) return NOT_RUN;
  const s = typeof input === 'string' ? parse(input) : input;
  const done = (): BatchState | BatchResult | typeof NOT_RUN => (s.next === stages.length ? output(s) : s);
  const p = runStage(s, ctx);
  return p ? p.then(done) : done();
}

/** A batch through every stage (one task per batch). */
export default function runLines(text: string, ctx: unknown): BatchResult | typeof NOT_RUN | Promise<BatchResult | typeof NOT_RUN> {
  if (stopping()) return NOT_RUN;
  const s = parse(text);
  const loop = (): BatchResult | typeof NOT_RUN | Promise<BatchResult | typeof NOT_RUN> => {
    while (s.next < stages.length) {
      const p = runStage(s, ctx);
      if (p) return p.then(loop);
    }
    return output(s);
  };
  return loop();
}
