/**
 * Operations written once as a generator, run blocking (workers) or async (any thread).
 *
 * The generator tries its operation, and when it cannot go on it yields a {@link Wait} (a word of
 * wait-armed.ts and a `ready` test). {@link runSync} sleeps with `sleepSync`, {@link runAsync} with
 * `sleepAsync`; both charge every timed wait against one deadline and throw the wait's error
 * (timeout, abort) back into the generator, so its `catch`/`finally` blocks undo what it holds.
 *
 * @example
 * ```ts
 * function* take(): Generator<Wait, number, undefined> {
 *   for (;;) {
 *     const v = tryTake();
 *     if (v !== undefined) return v;
 *     yield { at: DATA, ready: () => (hasData() ? true : undefined), timed: true };
 *   }
 * }
 * const v = await runAsync(control, take(), { timeout: 100 }, 'take');
 * ```
 */
import { limitsOf, sleepAsync, sleepSync, unlimited, type Wait } from './wait-armed.js';
import type { WaitOptions } from './wait.js';

/** Runs the steps `g` of an operation on the words of `c`, blocking the thread while it waits. */
export function runSync<R>(
  c: Int32Array,
  g: Generator<Wait, R, undefined>,
  opts: WaitOptions | undefined,
  what: string,
): R {
  const timed = limitsOf(opts, what);
  const untimed = unlimited(what);
  let s = g.next();
  while (!s.done) {
    try {
      sleepSync(c, s.value, s.value.timed ? timed : untimed);
    } catch (err) {
      s = g.throw(err);
      continue;
    }
    s = g.next();
  }
  return s.value;
}

/** Runs the steps `g` of an operation on the words of `c` without blocking the thread. */
export async function runAsync<R>(
  c: Int32Array,
  g: Generator<Wait, R, undefined>,
  opts: WaitOptions | undefined,
  what: string,
): Promise<R> {
  const timed = limitsOf(opts, what);
  const untimed = unlimited(what);
  let s = g.next();
  while (!s.done) {
    try {
      await sleepAsync(c, s.value, s.value.timed ? timed : untimed);
    } catch (err) {
      s = g.throw(err);
      continue;
    }
    s = g.next();
  }
  return s.value;
}
