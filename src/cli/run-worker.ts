/**
 * The task module `skein run` starts its pool with: it loads the user's task module and runs one
 * JSONL line through every `--fn` stage in turn, inside the worker, so a line crosses threads once
 * as text and comes back once as text (parse and stringify happen here, off the main thread).
 *
 * Its configuration arrives as `workerData.skeinRun` (see {@link RunWorkerData}).
 */
import { pathToFileURL } from 'node:url';
import { workerData } from 'node:worker_threads';
import { MalformedLineError } from './errors.js';
import { findFunction } from './task-functions.js';

/** What `skein run` puts in each worker's `workerData`. */
export interface RunWorkerData {
  skeinRun: { module: string; fns: string[] };
}

type Stage = (input: unknown, ctx: unknown) => unknown;

const { module, fns } = (workerData as RunWorkerData).skeinRun;
const mod = (await import(pathToFileURL(module).href)) as Record<string, unknown>;
const names = fns.length > 0 ? fns : [''];
const stages: Stage[] = names.map((n) => findFunction(mod, n, module) as Stage);

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/** Says on the error which stage threw it (an own field, so it crosses back to the main thread). */
function tag(err: unknown, i: number): unknown {
  if (typeof err === 'object' && err !== null) {
    try {
      (err as { skeinStage?: string }).skeinStage = names[i] || 'default';
    } catch {
      // A frozen error keeps its fields; the main thread then names no stage.
    }
  }
  return err;
}

function out(v: unknown): string | undefined {
  return v === undefined ? undefined : JSON.stringify(v);
}

async function finishAsync(v: PromiseLike<unknown>, from: number, ctx: unknown): Promise<string | undefined> {
  let value: unknown;
  try {
    value = await v;
  } catch (err) {
    throw tag(err, from);
  }
  for (let i = from + 1; i < stages.length; i++) {
    try {
      value = await stages[i](value, ctx);
    } catch (err) {
      throw tag(err, i);
    }
  }
  return out(value);
}

/** How a line failed, flattened so a batch's failures cross back as plain data. */
export interface LineFailure {
  class: string;
  message: string;
  /** The stage that threw, 'parse' for a malformed line, null when unknown. */
  stage: string | null;
}

/** Per line of a batch: its output JSON, 0 for no output (the last stage returned undefined), or its failure. */
export type LineResult = string | 0 | LineFailure;

function failure(err: unknown): LineFailure {
  const e = err as { name?: unknown; message?: unknown; skeinStage?: unknown } | null;
  if (e instanceof MalformedLineError) return { class: 'SyntaxError', message: e.message, stage: 'parse' };
  return {
    class: typeof e?.name === 'string' ? e.name : 'Error',
    message: typeof e?.message === 'string' ? e.message : String(err),
    stage: typeof e?.skeinStage === 'string' ? e.skeinStage : null,
  };
}

/**
 * One line through every stage. Returns the last stage's output as a JSON line, or undefined when
 * it returned undefined (the item is then dropped, like a filter). Stays synchronous while every
 * stage is.
 */
function runLine(line: string, ctx: unknown): string | undefined | Promise<string | undefined> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    throw new MalformedLineError((err as Error).message, { cause: err });
  }
  for (let i = 0; i < stages.length; i++) {
    try {
      value = stages[i](value, ctx);
    } catch (err) {
      throw tag(err, i);
    }
    if (isThenable(value)) return finishAsync(value, i, ctx);
  }
  return out(value);
}

/**
 * A batch of lines joined by '\n' (one task for many lines: the per-task cost is paid once per
 * batch). Lines run one after another, as separate tasks would on this worker; every line gets its
 * own result, and one line's failure does not touch the others.
 */
export default function runLines(batch: string, ctx: unknown): LineResult[] | Promise<LineResult[]> {
  const lines = batch.split('\n');
  const results: LineResult[] = new Array<LineResult>(lines.length);
  for (let i = 0; i < lines.length; i++) {
    try {
      const r = runLine(lines[i], ctx);
      if (typeof r === 'object') return finishBatch(lines, results, i, r, ctx);
      results[i] = r ?? 0;
    } catch (err) {
      results[i] = failure(err);
    }
  }
  return results;
}

/** The rest of a batch once line `i` turned out asynchronous. */
async function finishBatch(
  lines: string[],
  results: LineResult[],
  i: number,
  pending: Promise<string | undefined>,
  ctx: unknown,
): Promise<LineResult[]> {
  try {
    results[i] = (await pending) ?? 0;
  } catch (err) {
    results[i] = failure(err);
  }
  for (let k = i + 1; k < lines.length; k++) {
    try {
      results[k] = (await runLine(lines[k], ctx)) ?? 0;
    } catch (err) {
      results[k] = failure(err);
    }
  }
  return results;
}
