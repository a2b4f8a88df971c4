/**
 * How channel operations wait, and the generator drivers that run one operation either blocking
 * (workers) or async (any thread).
 *
 * A wait word is three Int32 slots: [at] seq, [at + 1] sleepers, [at + 2] armed. It works like
 * memory/wait.ts's (seq, sleepers) pair with two changes that keep writers cheap:
 *
 *   waiter:  Atomics.add(sleepers, 1); seen = load(seq); armed = max(armed, seen);
 *            if ready() stop; else wait(seq, seen)
 *   writer:  change state; if (load(sleepers) > 0 && load(seq) === load(armed)) { add(seq, 1); notify(seq) }
 *            ({@link ring})
 *
 * 1. The waiter registers before it looks, so a writer whom nobody waits for pays one plain load
 *    and no read-modify-write (wait.ts's writers always bump seq).
 * 2. `armed` is the newest seq a waiter has gone to sleep on. Once a writer has bumped seq past it,
 *    every sleeper is being woken and later writers skip the bump and the notify (a syscall) until
 *    a waiter arms again: a producer publishing into a channel whose consumer is still waking up
 *    pays for one notify, not one per message.
 *
 * Why no wake-up is lost (all accesses sequentially consistent): if the writer's load of sleepers
 * comes before the waiter's add, the writer's state change came before it too, so the waiter's
 * ready() sees it. Otherwise the writer sees the waiter. If it also sees armed === seq, it bumps
 * seq after the waiter's registration: the waiter either read seq before the bump, and Atomics.wait
 * (which compares seq with `seen` atomically with joining the queue) returns at once or is woken
 * by the notify; or it read the bumped seq, so the state change is visible to its ready(). If it
 * sees armed !== seq, then either armed is behind seq, meaning this waiter has not armed yet (its
 * max comes after the writer's load, so its ready() comes after the state change and sees it) or
 * it read a seq older than the current one (then Atomics.wait returns at once: seq moved); or a
 * waiter armed on a newer seq than the writer read, which the writer's own earlier load of seq
 * rules out (seq only moves forward).
 *
 * A channel operation is written once as a generator: it tries, and when it cannot go on it
 * yields a {@link Wait}. {@link runSync} sleeps with {@link sleepSync}, {@link runAsync} with
 * {@link sleepAsync}; both charge every timed wait against one deadline and throw the wait's error
 * (timeout, abort) back into the generator, so its `catch`/`finally` blocks undo what it holds.
 */
import { isMainThread } from 'node:worker_threads';
import { deadlineFor, now } from '../memory/clock.js';
import { TimeoutError } from '../memory/errors.js';
import { cpuRelax, WORKER_SPIN } from '../memory/spin.js';
import { abortError, holdLoop, releaseLoop, type WaitOptions } from '../memory/wait.js';

export interface Wait {
  /** Wait word (seq slot; sleepers is the next slot) in the channel's control block. */
  at: number;
  /** Returns true once it is worth trying again. */
  ready: () => true | undefined;
  /** Whether the caller's timeout and signal apply (false once a message has started moving). */
  timed: boolean;
}

const local = new Int32Array(1);

/**
 * A short pause between polls of shared memory (tens of ns): a poller that re-reads the other
 * side's line back to back takes it away from the writer on every store. Atomics.pause where the
 * runtime has it (Node 24+); otherwise loads of a word no other thread touches, which the JIT
 * cannot drop.
 */
export function pause(): void {
  for (let i = 0; i < 24; i++) {
    Atomics.load(local, 0);
    cpuRelax();
  }
}

/**
 * Polls a blocking send or receive makes for room or data before it sleeps (see spinPut/spinTake):
 * about 10 µs in a worker. An async one polls too, on any thread, but only about 1 µs: long enough
 * to catch a producer that is just ahead (a sleep through waitAsync costs an event-loop task per
 * wake-up), short enough to hold the event loop no longer than a small task does.
 */
export const POLL_SPIN = isMainThread ? 0 : 200;
export const ASYNC_POLL_SPIN = 30;

/** Writer side: after a state change, wakes whoever sleeps on the word at `at`. */
export function ring(c: Int32Array, at: number): void {
  if (Atomics.load(c, at + 1) > 0 && Atomics.load(c, at) === Atomics.load(c, at + 2)) {
    Atomics.add(c, at, 1);
    Atomics.notify(c, at);
  }
}

/** Waiter side, registered: reads seq and arms the word with it (armed = max(armed, seq)). */
export function arm(c: Int32Array, at: number): number {
  const seen = Atomics.load(c, at);
  for (;;) {
    const a = Atomics.load(c, at + 2);
    if (((seen - a) | 0) <= 0 || Atomics.compareExchange(c, at + 2, a, seen) === a) return seen;
  }
}

/** Throws AbortError when the signal has already fired (before anything is tried). */
export function checkAborted(opts: WaitOptions | undefined): void {
  const s = opts?.signal;
  if (s?.aborted) throw abortError(s);
}

export function timeoutError(what: string, timeout: number | undefined): TimeoutError {
  return new TimeoutError(`${what} timed out after ${timeout} ms`);
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

/** No deadline and no signal (a wait that must finish: the rest of a stream, a retract). */
export function unlimited(what: string): Limits {
  return { deadline: Number.POSITIVE_INFINITY, signal: undefined, what, timeout: undefined };
}

/**
 * The waiter's half of the protocol before each sleep: fails if the signal has fired, registers as
 * a sleeper on the word, arms it and looks. Returns undefined when `ready()` (registration taken
 * back); else the seq to sleep on, and the caller sleeps and then takes the registration back
 * (`Atomics.sub(c, w.at + 1, 1)`).
 */
function register(c: Int32Array, w: Wait, lim: Limits): number | undefined {
  if (lim.signal?.aborted) throw abortError(lim.signal);
  Atomics.add(c, w.at + 1, 1);
  let seen: number | undefined;
  try {
    seen = arm(c, w.at);
    if (w.ready()) seen = undefined;
  } finally {
    if (seen === undefined) Atomics.sub(c, w.at + 1, 1);
  }
  return seen;
}

/** The timeout argument of the next sleep (undefined: none); TimeoutError once past the deadline. */
function sleepTimeout(lim: Limits): number | undefined {
  if (lim.deadline === Number.POSITIVE_INFINITY) return undefined;
  const left = lim.deadline - now();
  if (left <= 0) throw timeoutError(lim.what, lim.timeout);
  return left;
}

/**
 * Blocks until `w.ready()`; throws TimeoutError past the deadline and AbortError when the signal
 * has fired (checked between sleeps: a blocked thread runs no event loop).
 */
export function sleepSync(c: Int32Array, w: Wait, lim: Limits): void {
  const spin = isMainThread ? 0 : WORKER_SPIN / 16;
  for (let i = 0; i < spin; i++) {
    if (w.ready()) return;
    pause();
  }
  for (;;) {
    const seen = register(c, w, lim);
    if (seen === undefined) return;
    try {
      Atomics.wait(c, w.at, seen, sleepTimeout(lim));
    } finally {
      Atomics.sub(c, w.at + 1, 1);
    }
  }
}

/**
 * Async form of {@link sleepSync}: sleeps in `Atomics.waitAsync`, holding the event loop open
 * meanwhile (a pending waitAsync does not, on Node 20), and stops at once when the signal fires.
 */
export async function sleepAsync(c: Int32Array, w: Wait, lim: Limits): Promise<void> {
  if (w.ready()) return;
  const signal = lim.signal;
  let onAbort: (() => void) | undefined;
  const aborted = signal
    ? new Promise<'aborted'>((resolve) =>
        signal.addEventListener('abort', (onAbort = () => resolve('aborted'))),
      )
    : undefined;
  holdLoop();
  try {
    for (;;) {
      const seen = register(c, w, lim);
      if (seen === undefined) return;
      try {
        const r = Atomics.waitAsync(c, w.at, seen, sleepTimeout(lim));
        if (r.async && (aborted ? await Promise.race([r.value, aborted]) : await r.value) === 'aborted') {
          throw abortError(signal as AbortSignal);
        }
      } finally {
        Atomics.sub(c, w.at + 1, 1);
      }
    }
  } finally {
    releaseLoop();
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

/** Runs a channel operation's steps in a blocking thread, sleeping with {@link sleepSync}. */
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

/** Runs a channel operation's steps without blocking, sleeping with {@link sleepAsync}. */
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
