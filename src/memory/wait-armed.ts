/**
 * An armed wait word: a variant of wait.ts's protocol whose writers pay one load when nobody waits
 * and one notify per sleep, not one per state change. Channels and select use it
 * (src/sync/channel/*.ts); anything with many writes and few sleepers can.
 *
 * A wait word is three Int32 slots:
 *
 *   [at]     seq       bumped by a writer that wakes sleepers, right before its notify
 *   [at + 1] sleepers  threads registered on the word: between their add and their sub
 *   [at + 2] armed     the newest seq a waiter has gone to sleep on
 *
 *   waiter:  add(sleepers, 1); seen = load(seq); armed = max(armed, seen);
 *            if ready() stop; else wait(seq, seen); then sub(sleepers, 1)      ({@link sleepSync})
 *   writer:  change state; if (load(sleepers) > 0 && load(seq) === load(armed))
 *              { add(seq, 1); notify(seq) }                                      ({@link ring})
 *
 * It differs from wait.ts's (seq, sleepers) pair in two ways that keep writers cheap:
 * 1. The waiter registers before it looks, so a writer whom nobody waits for pays one load and no
 *    read-modify-write (wait.ts's writers always bump seq).
 * 2. Once a writer has bumped seq past `armed`, every sleeper is being woken, and later writers
 *    skip the bump and the notify (a syscall) until a waiter arms again: a producer publishing into
 *    a channel whose consumer is still waking up pays for one notify, not one per message.
 *
 * Why no wake-up is lost. All these accesses are sequentially consistent, so they fall in one total
 * order; seq and armed only grow (mod 2^32); every bump of seq is followed by a notify from the
 * same writer; and Atomics.wait compares seq with `seen` atomically with joining the wait queue.
 * Take a waiter W that goes to sleep and a writer X whose state change W's ready() did not see.
 * ready() then read some slot before X wrote it, so the order is: W's add(sleepers) < W's load of
 * seq (= seen) < W's max into armed < W's ready() < X's state change < X's load of sleepers < X's
 * load of seq (= s) < X's load of armed (= a). So X sees sleepers > 0, s >= seen and a >= seen.
 * - s > seen: a writer bumped seq after W's load and then notified. W's wait, if it came after the
 *   bump, returns at once (seq !== seen); if it came before, that notify wakes it.
 * - s === seen and a === s: X bumps seq and notifies itself; W's wait returns at once or is woken.
 * - s === seen and a !== s: then a > seen, so a waiter read seq = a > seen before X's load of
 *   armed: seq had moved past seen by then, and the first case applies.
 *
 * Notifies wake every sleeper: a waiter that stopped sleeping in a waitAsync (abort) cannot leave
 * V8's queue, so waking "one" could pick it and lose the wake-up. That left-over waitAsync would
 * stay queued until the next notify on the word, which on an idle word may never come: a waiter
 * that stops early therefore notifies the word itself when it was the last one registered and seq
 * has not moved (else the writer that moved it notifies).
 */
import { isMainThread } from 'node:worker_threads';
import { deadlineFor, now } from './clock.js';
import { TimeoutError } from './errors.js';
import { cpuRelax, WORKER_SPIN } from './spin.js';
import { abortError, holdLoop, releaseLoop, type WaitOptions, watchAbort } from './wait.js';

/** What an operation waits for: a change on one armed wait word that makes `ready()` true. */
export interface Wait {
  /** The word's seq slot in the Int32Array the operation works on (sleepers and armed follow). */
  at: number;
  /** Returns true once it is worth trying again. */
  ready: () => true | undefined;
  /** Whether the caller's timeout and signal apply (false for a wait that must finish). */
  timed: boolean;
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

export function timeoutError(what: string, timeout: number | undefined): TimeoutError {
  return new TimeoutError(`${what} timed out after ${timeout} ms`);
}

/** Throws AbortError when the signal has already fired (before anything is tried). */
export function checkAborted(opts: WaitOptions | undefined): void {
  const s = opts?.signal;
  if (s?.aborted) throw abortError(s);
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

/**
 * Waiter side, after a sleep: takes the registration back. `early`: the sleep ended before the
 * word changed (an abort), so its waitAsync may still be queued; the last one registered settles
 * it with a notify if seq has not moved.
 */
export function disarm(c: Int32Array, at: number, seen: number, early: boolean): void {
  if (Atomics.sub(c, at + 1, 1) === 1 && early && Atomics.load(c, at) === seen) Atomics.notify(c, at);
}

/**
 * The waiter's half of the protocol before each sleep: fails if the signal has fired, registers as
 * a sleeper on the word, arms it and looks. Returns undefined when `ready()` (registration taken
 * back); else the seq to sleep on, and the caller sleeps and then calls {@link disarm}.
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
      disarm(c, w.at, seen, false);
    }
  }
}

/**
 * Async form of {@link sleepSync}: sleeps in `Atomics.waitAsync`, holding the event loop open
 * meanwhile (a pending waitAsync does not, on Node 20), and stops at once when the signal fires.
 * As in wait.ts's waitUntil, the signal gets one listener however many waits share it, and each
 * sleep its own small promise for the abort to settle (racing every sleep against one long-lived
 * promise kept a reaction per wake-up until the wait ended).
 */
export async function sleepAsync(c: Int32Array, w: Wait, lim: Limits): Promise<void> {
  if (w.ready()) return;
  const signal = lim.signal;
  let wakeOnAbort: ((outcome: 'aborted') => void) | undefined;
  const unwatch = signal ? watchAbort(signal, () => wakeOnAbort?.('aborted')) : undefined;
  holdLoop();
  try {
    for (;;) {
      const seen = register(c, w, lim);
      if (seen === undefined) return;
      let outcome = 'ok';
      try {
        const r = Atomics.waitAsync(c, w.at, seen, sleepTimeout(lim));
        if (r.async) {
          outcome = signal
            ? await new Promise<string>((resolve) => {
                wakeOnAbort = resolve;
                void r.value.then(resolve);
              })
            : await r.value;
          wakeOnAbort = undefined;
        }
      } finally {
        disarm(c, w.at, seen, outcome === 'aborted');
      }
      if (outcome === 'aborted') throw abortError(signal as AbortSignal);
    }
  } finally {
    releaseLoop();
    unwatch?.();
  }
}
