/**
 * Opening what `skein run` reads and writes: the input (a file or stdin), the output and errors
 * (files or stdout/stderr) and the job log, cut back to the job log's record when resuming.
 */
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { UsageError } from './errors.js';
import { cutBack, DoneLines, type JobLogState, readJobLog } from './joblog.js';

export interface FileOptions {
  input: string;
  output: string;
  errors: string | undefined;
  joblog: string | undefined;
  resume: boolean;
  /** --ordered: resuming, the earlier runs must have written in input order too (see openFiles). */
  ordered?: boolean;
}

export interface OpenFiles {
  input: Readable;
  /** The input's size in bytes when it is a file. */
  inputBytes: number | undefined;
  out: Writable;
  err: Writable;
  errToStderr: boolean;
  log: Writable | undefined;
  logPath: string | undefined;
  state: JobLogState;
  /** Closes the files this opened (not stdout or stderr); resolves once they are flushed. */
  close(): Promise<void>;
}

const isStd = (p: string | undefined): boolean => p === undefined || p === '-';

function end(s: Writable): Promise<void> {
  return new Promise((resolve) => {
    s.once('error', () => resolve());
    s.end(() => resolve());
  });
}

/**
 * The job log's path: --joblog, or beside an output file; none when the output is stdout or not a
 * regular file (/dev/null, a pipe: nothing to resume into).
 */
export function jobLogPath(o: FileOptions): string | undefined {
  if (o.joblog) return o.joblog;
  if (isStd(o.output) || (existsSync(o.output) && !statSync(o.output).isFile())) return undefined;
  return `${o.output}.joblog`;
}

/**
 * Whether two paths name one regular file (or one path not yet made). Devices and pipes are not
 * files to overwrite: `-o /dev/null -e /dev/null` is fine.
 */
function sameFile(a: string, b: string): boolean {
  const sa = existsSync(a) ? statSync(a) : undefined;
  const sb = existsSync(b) ? statSync(b) : undefined;
  if ((sa && !sa.isFile()) || (sb && !sb.isFile())) return false;
  if (sa && sb) return sa.dev === sb.dev && sa.ino === sb.ino;
  return resolve(a) === resolve(b);
}

/**
 * A UsageError when two of the files name one file: the output (opened first, truncated) would
 * wipe the input before it is read, and two writers of one file overwrite each other.
 */
function checkDistinct(files: [option: string, path: string | undefined][]): void {
  const named = files.filter((f): f is [string, string] => !isStd(f[1]));
  for (let i = 0; i < named.length; i++)
    for (let j = i + 1; j < named.length; j++)
      if (sameFile(named[i][1], named[j][1]))
        throw new UsageError(`${named[i][0]} and ${named[j][0]} name the same file (${named[j][1]}): give each its own`);
}

/**
 * With --ordered, --resume appends the lines left after what the earlier runs wrote: the whole
 * output is in input order only if those runs wrote in input order and finished every line before
 * the first one left (joblog.ts). A log that says otherwise (a run without --ordered, whose output
 * is in the order items finished and names no input line) is refused before the output and errors
 * are cut back: that output cannot be put in order, and appending would break the order --ordered
 * promises.
 */
function checkOrderedResume(o: FileOptions, logPath: string, state: JobLogState): void {
  const { done } = state;
  if (!o.ordered || done.count === 0) return;
  const why = !state.ordered
    ? 'an earlier run wrote its results in the order they finished (it ran without --ordered)'
    : done.max !== done.count
      ? `it names ${done.count} lines up to line ${done.max}, with lines before it left to do`
      : undefined;
  if (!why) return;
  throw new UsageError(
    `--ordered --resume cannot keep the output in input order: the job log ${logPath} says ${why}; ` +
      'resume without --ordered, or run again without --resume',
  );
}

/**
 * `onError` hears a failure of any file, `onInputError` (default `onError`) one of the input, and
 * `onOutputError` (default `onError`) one of an output file (a FIFO whose reader went away: EPIPE).
 */
export function openFiles(o: FileOptions, onError: (err: Error) => void, onInputError = onError, onOutputError = onError): OpenFiles {
  const logPath = jobLogPath(o);
  checkDistinct([
    ['--input', o.input],
    ['--output', o.output],
    ['--errors', o.errors],
    ['--joblog', logPath],
  ]);
  let input: Readable;
  let inputBytes: number | undefined;
  if (isStd(o.input)) input = process.stdin;
  else {
    if (!existsSync(o.input)) throw new UsageError(`input file not found: ${o.input}`);
    inputBytes = statSync(o.input).size;
    input = createReadStream(o.input, { highWaterMark: 256 * 1024 });
  }
  let state: JobLogState = { done: new DoneLines(), outBytes: 0, errBytes: 0, ordered: false };
  if (o.resume) {
    if (!logPath) throw new UsageError('--resume needs --output FILE or --joblog FILE (where the last run kept its log)');
    state = readJobLog(logPath);
    checkOrderedResume(o, logPath, state);
    // joblog.ts invariant 2: drop whatever was written after the last record.
    if (!isStd(o.output)) cutBack(o.output, state.outBytes);
    if (!isStd(o.errors)) cutBack(o.errors as string, state.errBytes);
  }
  const flags = o.resume ? 'a' : 'w';
  const opened: Writable[] = [];
  const file = (path: string, onFileError = onError): Writable => {
    const s = createWriteStream(path, { flags });
    s.on('error', onFileError);
    opened.push(s);
    return s;
  };
  const out = isStd(o.output) ? process.stdout : file(o.output, onOutputError);
  const err = isStd(o.errors) ? process.stderr : file(o.errors as string);
  const log = logPath ? file(logPath) : undefined;
  input.on('error', onInputError);
  return {
    input,
    inputBytes,
    out,
    err,
    errToStderr: isStd(o.errors),
    log,
    logPath,
    state,
    close: async () => {
      await Promise.all(opened.map(end));
    },
  };
}
