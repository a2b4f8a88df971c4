/** What a wait may spend: the options every waiting operation takes, and the limits made of them. */
import { deadlineFor } from '../clock.js';
import { TimeoutError } from '../errors.js';
import { invalid, millis } from '../validate.js';
import { abortError } from './abort.js';

/** Options every waiting operation takes. */
export interface WaitOptions {
  /** Stop waiting when this signal aborts; the operation rejects with {@link AbortError}. */
  signal?: AbortSignal;
  /** Give up after this many milliseconds with {@link TimeoutError}. */
  timeout?: number;
}

/** Validates wait options at the call site, so a bad timeout fails there and not deep in a loop. */
export function checkWaitOptions(opts: WaitOptions | undefined): void {
  if (!opts) return;
  if (typeof opts !== 'object') invalid('wait options', 'an object', opts);
  if (opts.timeout !== undefined) millis(opts.timeout, 'timeout', { infinity: true });
  if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) {
    invalid('signal', 'an AbortSignal', opts.signal);
  }
}

/** What a sleep may spend: a deadline on clock.now() and a signal; `what` and `timeout` name it in errors. */
export interface Limits {
  deadline: number;
  signal: AbortSignal | undefined;
  what: string;
  timeout: number | undefined;
}

/** The limits of an operation called with `opts`, from now. */
export function limitsOf(opts: WaitOptions | undefined, what: string): Limits {
  return { deadline: deadlineFor(opts?.timeout), signal: opts?.signal, what, timeout: opts?.timeout };
}

/** No deadline and no signal (a wait that must finish). */
export function unlimited(what: string): Limits {
  return { deadline: Number.POSITIVE_INFINITY, signal: undefined, what, timeout: undefined };
}

export function timeoutError(what: string, timeout: number | undefined): TimeoutError {
  return new TimeoutError(`${what} timed out after ${timeout} ms`);
}

/** Throws AbortError when the signal has already fired (before anything is tried). */
export function checkAborted(opts: WaitOptions | undefined): void {
  const s = opts?.signal;
  if (s?.aborted) throw abortError(s);
}
