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

/**
 * One line through every stage. Returns the last stage's output as a JSON line, or undefined when
 * it returned undefined (the item is then dropped, like a filter). Stays synchronous while every
 * stage is.
 */
export default function runLine(line: string, ctx: unknown): string | undefined | Promise<string | undefined> {
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
