/**
 * Operations written once as a generator, run blocking (workers) or async (any thread).
 *
 * The generator tries its operation, and when it cannot go on it yields a {@link Wait} (a wait word
 * and a `ready` test). {@link runSync} waits with blockUntil, {@link runAsync} with waitUntil
 * (until.ts); both charge every timed wait against one deadline and throw the wait's error
 * (timeout, abort) back into the generator, so its `catch`/`finally` blocks undo what it holds.
 *
 * @example
 * ```ts
 * function* take(): Generator<Wait, number, undefined> {
 *   for (;;) {
 *     const v = tryTake();
 *     if (v !== undefined) return v;
 *     yield { word: data, ready: () => (hasData() ? true : undefined), timed: true };
 *   }
 * }
 * const v = await runAsync(take(), { timeout: 100 }, 'take');
 * ```
 */
import { type Limits, limitsOf, unlimited, type WaitOptions } from './options.js';
import { blockUntil, waitUntil } from './until.js';
import type { WaitWord } from './word.js';

/** What an operation waits for: a change on a wait word that makes `ready()` true. */
export interface Wait {
  word: WaitWord;
  /** Returns true once it is worth trying again. */
  ready: () => true | undefined;
  /**
   * Which limits apply: true, the caller's timeout and signal; false, none (a wait that must
   * finish); or limits of its own (a wait bounded by something other than the caller's options).
   */
  timed: boolean | Limits;
  /** Sleep at most this long before `ready` is asked again (a wait that also watches time). */
  pollMs?: number;
}

function limitsFor(s: Wait, timed: Limits, untimed: Limits): Limits {
  return s.timed === true ? timed : s.timed === false ? untimed : s.timed;
}

/** Runs the steps `g` of an operation, blocking the thread while it waits. */
export function runSync<R>(g: Generator<Wait, R, undefined>, opts: WaitOptions | undefined, what: string): R {
  const timed = limitsOf(opts, what);
  const untimed = unlimited(what);
  let s = g.next();
  while (!s.done) {
    try {
      blockUntil(s.value.word, s.value.ready, limitsFor(s.value, timed, untimed), s.value.pollMs);
    } catch (err) {
      s = g.throw(err);
      continue;
    }
    s = g.next();
  }
  return s.value;
}

/** Runs the steps `g` of an operation without blocking the thread. */
export async function runAsync<R>(
  g: Generator<Wait, R, undefined>,
  opts: WaitOptions | undefined,
  what: string,
): Promise<R> {
  const timed = limitsOf(opts, what);
  const untimed = unlimited(what);
  let s = g.next();
  while (!s.done) {
    try {
      await waitUntil(s.value.word, s.value.ready, limitsFor(s.value, timed, untimed), undefined, s.value.pollMs);
    } catch (err) {
      s = g.throw(err);
      continue;
    }
    s = g.next();
  }
  return s.value;
}

export type { Limits };
