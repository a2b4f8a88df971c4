/**
 * Go's `select` over channels: waits until one of several sends or receives can go, does exactly
 * that one, and says which.
 *
 * Each round tries the cases in a fresh random order (so among ready cases each is equally likely:
 * no case starves another), and the first that goes wins. If none can, it waits for a change on
 * any of the channels' wait words: for a receive case the channel's DATA word and its consumer-lock
 * word, for a send case ROOM and the producer-lock word. Then it tries again.
 *
 * How it waits (protocol in memory/wait/word.ts: a writer bumps and notifies a word only while someone
 * is registered on it, so a waiter registers first, then snapshots the words, then tries):
 * - async: registers on every word and sleeps on all of them at once (memory/wait/sleep.ts: one
 *   park per word in one sleep, which holds the loop and is bounded to {@link ASYNC_SLICE_MS}). The
 *   parks on words that did not fire linger until their word is notified: word.ts invariant 5.
 * - sync (workers): registers on every word and spins a little watching them all; a thread can then
 *   block on one address only. So it blocks on the cases' words in turn for at most
 *   {@link SYNC_SLICE_MS} each, re-trying every case in between (a change on another channel is
 *   seen at most that late); with a single case, until that case's word changes. A select with
 *   several cases still waiting after {@link BELL_AFTER_TURNS} turns is idle: it then registers on
 *   the bell first (memory/wait/bell.ts: one wait word every thread of the process shares) and
 *   counts itself in each word's BELLED, and blocks on the bell, which the writers of those words
 *   ring (word.ts invariant 9): it sleeps in the kernel until a change, or {@link BELL_SLICE_MS}.
 *   Not at once: every sleeper on the bell wakes for a change of any word one of them counts in,
 *   so busy selects that share channels would all wake for every message; taking turns, a select
 *   wakes for changes of the word it blocks on. Nor over a channel a thread with another bell
 *   has opened (FOREIGN, byte-ring.ts): its writes do not ring the bell.
 *
 * A send case on a rendezvous channel cannot be tried by a look alone (a receiver must take the
 * message). While the select sleeps it leaves the message of one such case in its ring, where a
 * receiver on any thread may take it, and takes it back first thing when it wakes (retract under
 * CLOCK): if it was taken, that case went and nothing else is tried (select-cases.ts offer/withdraw).
 */
import { deadlineFor, now } from '../../memory/clock.js';
import { abortError, runAsync, runSync, timeoutError, type Wait, type WaitOptions } from '../../memory/wait/index.js';
import {
  type Committed,
  markWaiting,
  type Prepared,
  prepare,
  type SelectCase,
  type SelectResult,
  streamed,
  tryAll,
  withdraw,
} from './select-cases.js';
import { handoff } from './rendezvous.js';
import { BELL_AFTER_TURNS, bellFor, prepareWait, unregisterAll, waitAny, waitOneSync } from './select-wait.js';

export {
  type DefaultCase,
  defaultCase,
  type RecvCase,
  recv,
  type SelectCase,
  type SelectResult,
  type SendCase,
  send,
} from './select-cases.js';
export { ASYNC_SLICE_MS, BELL_AFTER_TURNS, BELL_SLICE_MS, SYNC_SLICE_MS } from './select-wait.js';

/** The rest of a committed case's stream (a rendezvous send's then waits for its taker). */
function steps(p: Prepared, c: Committed): Generator<Wait, unknown, undefined> {
  const g = c.stream.steps() as Generator<Wait, unknown, undefined>;
  const seq = c.seq;
  if (seq === undefined) return g;
  const producer = p.cores[c.index].producer;
  return (function* () {
    yield* g;
    yield* handoff(producer, seq);
  })();
}

/** What is left of the caller's limits, for the rest of a committed stream. */
function rest(deadline: number, opts: WaitOptions | undefined): WaitOptions {
  const left = deadline - now();
  return { signal: opts?.signal, timeout: left === Number.POSITIVE_INFINITY ? undefined : Math.max(0, left) };
}

/** Before each waiting round: the select has been aborted or has run out of time. */
function checkRound(p: Prepared, deadline: number, opts: WaitOptions | undefined, what: string): void {
  const signal = opts?.signal;
  if (signal?.aborted) throw abortError(signal);
  if (now() >= deadline) throw timeoutError(what, opts?.timeout);
}

/**
 * Waits until one case can go and does it; among cases ready at once, one at random.
 * Rejects with TimeoutError or AbortError (then no case went), ChannelClosedError when the send case
 * it picks is on a closed channel, SerializationError for an uncloneable send value. A message
 * larger than a channel's ring, once its case is picked, streams: a send within what is left of the
 * timeout (see Channel.send), a receive to its end (see Channel.recv; byte-ring.ts invariant 8).
 *
 * @example
 * ```ts
 * const r = await select<Job>([recv(jobs), send(results, last)], { timeout: 100 }); // or TimeoutError
 * if (r.index === 0 && r.ok) handle(r.value!); // received; `ok: false`: jobs is closed and drained
 * const polled = await select([recv(jobs), defaultCase()]); // index 1 at once if no job is ready
 * ```
 */
export async function select<V = unknown>(
  cases: readonly SelectCase[],
  opts?: WaitOptions,
): Promise<SelectResult<V>> {
  const p = prepare(cases, opts, 'select options');
  let r = tryAll(p);
  if (r && !('stream' in r)) return r as SelectResult<V>;
  const deadline = deadlineFor(opts?.timeout);
  markWaiting(p, 1);
  try {
    for (;;) {
      while (!r) {
        // a message offered while it slept is taken back before anything else (or it went)
        r = withdraw(p);
        if (r) break;
        checkRound(p, deadline, opts, 'select');
        try {
          r = prepareWait(p);
          if (!r) await waitAny(p, deadline, opts?.signal);
        } finally {
          unregisterAll(p);
        }
      }
      if (!('stream' in r)) return r as SelectResult<V>;
      const v = await runAsync(steps(p, r), rest(deadline, opts), 'select');
      if (v !== undefined || p.encs[r.index]) return streamed(p, r, v) as SelectResult<V>;
      r = undefined; // a receive whose sender gave up its stream: nothing was received, wait on
    }
  } finally {
    withdraw(p); // only when a wait threw: every round begins by withdrawing
    markWaiting(p, -1);
  }
}

/** Blocking form of {@link select}, for worker threads. */
export function selectSync<V = unknown>(cases: readonly SelectCase[], opts?: WaitOptions): SelectResult<V> {
  const p = prepare(cases, opts, 'selectSync options');
  let r = tryAll(p);
  if (r && !('stream' in r)) return r as SelectResult<V>;
  const deadline = deadlineFor(opts?.timeout);
  markWaiting(p, 1);
  try {
    for (let turn = 0; ; ) {
      for (; !r; turn++) {
        r = withdraw(p);
        if (r) break;
        checkRound(p, deadline, opts, 'selectSync');
        if (turn === BELL_AFTER_TURNS) p.bell = bellFor(p);
        try {
          r = prepareWait(p);
          if (!r) waitOneSync(p, deadline, turn);
        } finally {
          unregisterAll(p);
        }
      }
      if (!('stream' in r)) return r as SelectResult<V>;
      const v = runSync(steps(p, r), rest(deadline, opts), 'selectSync');
      if (v !== undefined || p.encs[r.index]) return streamed(p, r, v) as SelectResult<V>;
      r = undefined; // a receive whose sender gave up its stream: nothing was received, wait on
    }
  } finally {
    withdraw(p); // only when a wait threw: every round begins by withdrawing
    markWaiting(p, -1);
  }
}
