/**
 * Runs a channel operation written once as a generator of waits, either blocking (workers) or
 * async (any thread).
 *
 * A channel operation tries, and when it cannot go on it yields a {@link Wait}: which wait word to
 * sleep on and when to wake up. {@link runSync} sleeps with `blockUntil`, {@link runAsync} with
 * `waitUntil`; both charge every timed wait against one deadline and throw the wait's error (timeout,
 * abort) back into the generator, so its `catch`/`finally` blocks undo what it holds.
 */
import { deadlineFor, now } from '../memory/clock.js';
import { AbortError, TimeoutError } from '../memory/errors.js';
import { blockUntil, type WaitOptions, waitUntil } from '../memory/wait.js';

export interface Wait {
  /** Wait word (seq slot) in the channel's control block. */
  at: number;
  /** Returns true once it is worth trying again. */
  ready: () => true | undefined;
  /** Whether the caller's timeout and signal apply (false once a message has started moving). */
  timed: boolean;
}

function waitOpts(opts: WaitOptions | undefined, deadline: number): WaitOptions | undefined {
  if (!opts) return undefined;
  return {
    signal: opts.signal,
    timeout: deadline === Number.POSITIVE_INFINITY ? undefined : Math.max(0, deadline - now()),
  };
}

function restate(err: unknown, opts: WaitOptions | undefined, what: string): unknown {
  if (err instanceof TimeoutError) return new TimeoutError(`${what} timed out after ${opts?.timeout} ms`);
  return err;
}

/** Throws AbortError when the signal has already fired (before anything is tried). */
export function checkAborted(opts: WaitOptions | undefined): void {
  const s = opts?.signal;
  if (s?.aborted) throw new AbortError('the operation was aborted', { cause: s.reason });
}

export function runSync<R>(
  c: Int32Array,
  g: Generator<Wait, R, undefined>,
  opts: WaitOptions | undefined,
  what: string,
): R {
  const deadline = deadlineFor(opts?.timeout);
  let s = g.next();
  while (!s.done) {
    const w = s.value;
    try {
      blockUntil(c, w.at, w.ready, w.timed ? waitOpts(opts, deadline) : undefined, what);
    } catch (err) {
      s = g.throw(restate(err, opts, what));
      continue;
    }
    s = g.next();
  }
  return s.value;
}

export async function runAsync<R>(
  c: Int32Array,
  g: Generator<Wait, R, undefined>,
  opts: WaitOptions | undefined,
  what: string,
): Promise<R> {
  const deadline = deadlineFor(opts?.timeout);
  let s = g.next();
  while (!s.done) {
    const w = s.value;
    try {
      await waitUntil(c, w.at, w.ready, w.timed ? waitOpts(opts, deadline) : undefined, what);
    } catch (err) {
      s = g.throw(restate(err, opts, what));
      continue;
    }
    s = g.next();
  }
  return s.value;
}
