/**
 * Waiting until something holds: loops of try, register, look, sleep over one wait word (word.ts),
 * charging every sleep against one deadline. Every blocking structure waits through these (or
 * through steps.ts, which runs its generators on them).
 *
 * @example
 * ```ts
 * const zero = () => (Atomics.load(v, COUNT) === 0 ? true : undefined);
 * await waitUntil(doneWord, zero, limitsOf({ timeout: 100 }, 'WaitGroup.wait'));
 * blockUntil(doneWord, zero, limitsOf(opts, 'WaitGroup.waitSync'));   // in a worker
 * ```
 */
import { isMainThread } from 'node:worker_threads';
import { now } from '../clock.js';
import { abortError } from './abort.js';
import { type Limits, timeoutError } from './options.js';
import { pause } from './pause.js';
import { type Interrupt, sleepAsync, sleepSync } from './sleep.js';
import { register, unregister, type WaitWord } from './word.js';
import { WORKER_SPIN } from '../spin.js';

/**
 * A blocked thread looks again at least this often, even if its word never moved. Defence in depth
 * for the one miscount word.ts invariant 7 leaves possible (a registration held across a full turn
 * of the census epoch, by a thread that stood still a minute or more): a wake-up lost so costs a
 * blocked waiter at most this long, never the rest of its life. A blocked thread runs nothing else,
 * so one look a second is free; async waits have no such backstop (a timer per waiter).
 */
const SYNC_BACKSTOP_MS = 1000;

/**
 * The timeout of the next sleep (undefined: none), at most `pollMs`; throws TimeoutError once past
 * the deadline.
 */
function sleepMs(lim: Limits, pollMs: number | undefined): number | undefined {
  if (lim.deadline === Number.POSITIVE_INFINITY) return pollMs;
  const left = lim.deadline - now();
  if (left <= 0) throw timeoutError(lim.what, lim.timeout);
  return pollMs === undefined ? left : Math.min(left, pollMs);
}

/**
 * Registers on `w` and tries `attempt` once (word.ts invariant 1): its result, or the SEQ to sleep
 * on (registered) when it returned undefined. Throws AbortError when the signal has fired.
 */
function look<T>(w: WaitWord, attempt: () => T | undefined, lim: Limits): { r: T | undefined; seen: number } {
  if (lim.signal?.aborted) throw abortError(lim.signal);
  const seen = register(w);
  let r: T | undefined;
  try {
    r = attempt();
  } catch (err) {
    unregister(w);
    throw err;
  }
  if (r !== undefined) unregister(w);
  return { r, seen };
}

/**
 * Blocks the calling thread until `attempt()` returns something other than undefined, trying it
 * again after every change of `w`. Throws TimeoutError past the deadline (checked even while the
 * word keeps changing) and AbortError when the signal has fired (checked between sleeps: a
 * blocked thread runs no event loop). `pollMs`: sleep at most this long before trying again even
 * if the word did not move (for an attempt that also watches time, like the ticket gate's).
 */
export function blockUntil<T>(w: WaitWord, attempt: () => T | undefined, lim: Limits, pollMs?: number): T {
  const spin = isMainThread ? 0 : WORKER_SPIN / 16;
  for (let i = 0; i < spin; i++) {
    const r = attempt();
    if (r !== undefined) return r;
    pause();
  }
  for (;;) {
    const { r, seen } = look(w, attempt, lim);
    if (r !== undefined) return r;
    let ms: number | undefined;
    try {
      ms = sleepMs(lim, pollMs ?? SYNC_BACKSTOP_MS);
    } catch (err) {
      unregister(w);
      throw err;
    }
    sleepSync(w, seen, ms);
  }
}

/**
 * Async form of {@link blockUntil}: never blocks the thread. Rejects with TimeoutError or
 * AbortError. `interrupt`, if given, wakes the sleep early for the caller's own events.
 */
export async function waitUntil<T>(
  w: WaitWord,
  attempt: () => T | undefined,
  lim: Limits,
  interrupt?: Interrupt,
  pollMs?: number,
): Promise<T> {
  if (lim.signal?.aborted) throw abortError(lim.signal);
  const first = attempt();
  if (first !== undefined) return first;
  const words = [w];
  const seens = [0];
  for (;;) {
    const { r, seen } = look(w, attempt, lim);
    if (r !== undefined) return r;
    let ms: number | undefined;
    try {
      ms = sleepMs(lim, pollMs);
    } catch (err) {
      unregister(w);
      throw err;
    }
    seens[0] = seen;
    const outcome = await sleepAsync(words, seens, ms, lim.signal, interrupt);
    if (outcome === 'aborted') throw abortError(lim.signal as AbortSignal);
  }
}
