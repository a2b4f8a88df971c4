/** What a wait may spend: the options every waiting operation takes, and the limits made of them. */
import { deadlineFor } from '../clock.js';
import { TimeoutError } from '../errors.js';
import { allKeys, invalid, millis, onlyKeys } from '../validate.js';
import { abortError } from './abort.js';

/** Options every waiting operation takes. */
export interface WaitOptions {
  /** Stop waiting when this signal aborts; the operation rejects with {@link AbortError}. */
  signal?: AbortSignal;
  /** Give up after this many milliseconds with {@link TimeoutError}. */
  timeout?: number;
}

/** The keys of {@link WaitOptions}, what a wait that takes nothing else takes. */
export const WAIT_KEYS = allKeys<WaitOptions>({ signal: true, timeout: true });

/**
 * Validates wait options at the call site, so a bad timeout fails there and not deep in a loop. A
 * key not in `keys` is InvalidArgumentError naming it (`Mutex.lock options take only 'signal',
 * 'timeout', got 'timout' (did you mean 'timeout'?)`), not a wait with no limit; `name` names the
 * options in errors (a literal: nothing is allocated when the options are right, as this runs per
 * wait). An operation that takes more than wait options (a priority, a lease) passes its own keys.
 */
export function checkWaitOptions(opts: WaitOptions | undefined, name = 'wait options', keys: readonly string[] = WAIT_KEYS): void {
  if (!opts) return;
  if (typeof opts !== 'object') invalid(name, 'an object', opts);
  onlyKeys(opts, name, keys);
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
