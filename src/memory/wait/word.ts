/**
 * The wait word: the one layout and protocol every thread in skein sleeps and wakes by.
 *
 * A wait word is four Int32 slots from `at` in some Int32Array over shared memory:
 *
 *   [at]     SEQ        bumped by a writer that wakes sleepers, right before its notify
 *   [at + 1] SLEEPERS   waiters registered on the word: between their register() and unregister()
 *   [at + 2] ARMED      the newest SEQ a registered waiter has read (armed = max(armed, seq))
 *   [at + 3] LINGERING  async parks whose waiter stopped caring before the park ended (they stay in
 *                       V8's queue: see notifyCounted)
 *
 * Waiter (every waiter, sync or async, in every layer; sleep.ts, until.ts, any.ts):
 *   seen = register(w)      add(SLEEPERS, 1); seen = load(SEQ); ARMED = max(ARMED, seen)
 *   if (ready()) { unregister(w); stop }
 *   park while SEQ === seen (with a timeout); unregister(w)
 * Writers, after changing the state a waiter tests, pick one:
 *   ring(w)           if (SLEEPERS > 0 && SEQ === ARMED) { add(SEQ, 1); notify all }   (cheap: many
 *                     writes, few sleepers; later writers skip the notify until a waiter re-arms)
 *   notifyAll(w)      add(SEQ, 1); if (SLEEPERS > 0) notify all                          (always bumps:
 *                     for waiters that also spin on SEQ, like the pool's idle worker)
 *   notifyCounted(w, n)  after a bump: wakes n sleepers plus the LINGERING ones (pool only)
 *
 * Invariants (cited as "word.ts invariant N"):
 * 1. A waiter registers before it looks at the state it waits for, and arms with the SEQ it will
 *    park on. All accesses are sequentially consistent, so they fall in one total order.
 * 2. SEQ and ARMED only grow (mod 2^32); every bump of SEQ is followed by a notify from the same
 *    writer (ring) or by a notify whenever SLEEPERS > 0 (notifyAll). Not on a counted word
 *    (bump + notifyCounted, the pool's task word): there a bump wakes at most n sleepers, none
 *    when n is 0, so 3 below holds for ring and notifyAll only; the pool's own protocol (a woken
 *    worker that finds more work passes the wake-up on, a spinning worker re-reads SEQ before it
 *    sleeps: pool/main/dispatch.ts publish()) stands in for it there (see 6).
 * 3. No wake-up is lost. Take a waiter W that parks on `seen` and a writer X whose state change W's
 *    ready() did not see: W's add(SLEEPERS) < W's load of SEQ < W's max into ARMED < W's ready() <
 *    X's change < X's loads. So X sees SLEEPERS > 0 (W registered), SEQ = s >= seen, ARMED = a >= seen.
 *    - s > seen: a writer bumped SEQ after W read it, and notifies after the bump (2): W's park
 *      either sees SEQ !== seen at once, or is queued before that notify and woken by it.
 *    - s === seen, ring: a === s means X bumps and notifies itself; a !== s means a > seen, so some
 *      waiter read SEQ = a > seen before X's load: SEQ had moved past seen, the case above.
 *    - notifyAll always bumps and then notifies (SLEEPERS > 0): W is woken or never parks.
 *    Atomics.wait and waitAsync compare SEQ with `seen` atomically with joining the queue, so a
 *    notify that lands between W's ready() and its park still makes the park return at once.
 * 4. Notifies wake every sleeper (notifyAll, ring). An async park cannot leave V8's queue when its
 *    waiter stops early (abort, timeout of a raced wait, an interrupt), so a notify of "one" could
 *    pick that dead park and lose the wake-up.
 * 5. A waiter that stops early counts its park in LINGERING until the park itself ends, and if it
 *    was the last one registered, notifies the word so the park ends now rather than at the next
 *    writer's notify (which on an idle word may never come). Even when SEQ has moved: the writer
 *    that moved it notifies only if it saw SLEEPERS > 0, and it may have read SLEEPERS after this
 *    waiter left. Any waiter that takes SLEEPERS to 0 and then reads LINGERING > 0 notifies too:
 *    a park left while others were registered ends when the last of them leaves (its add to
 *    LINGERING precedes its own SLEEPERS decrement, so whoever takes SLEEPERS to 0 later sees it).
 * 6. notifyCounted (the pool's task word, where waking every idle worker per task would cost a
 *    thundering herd): a notify of n wakes the first n queued parks, lingering ones included. So it
 *    adds LINGERING to n; and a waiter that stops early on such a word must look for work again
 *    before it parks anew (a wake-up it took in the instant before it counted itself lingering is
 *    then not lost: it is the one who got it). Waiters that leave for good (abort) must not wait
 *    on a counted word, nor may a waiter that would not take the work its wake-up announces: it
 *    would spend the wake-up, and the work would wait for another waiter's timeout. The pool's
 *    workers that claim nothing (running as many tasks as they may, recycling, asked to leave)
 *    sleep on a word of their own (pool/shared/layout.ts WAKE).
 *
 * Why a brand: a wait word is only a word of the protocol it was made for. `WaitWord<P>` carries the
 * name of its protocol in its type, so a channel's DATA word cannot be passed where the pool's task
 * word is expected, and no raw (Int32Array, index) pair can be passed to the wait functions at all.
 */

import { InvalidArgumentError } from '../errors.js';

declare const protocol: unique symbol;

/**
 * One wait word (layout above) of protocol `P`. Made by {@link wordAt} or {@link newWord}.
 * @example
 * ```ts
 * const data: WaitWord<'queue.data'> = wordAt(control, DATA_AT);
 * // writer: push(); ring(data)      waiter: await waitUntil(data, tryPop, limitsOf(opts, 'pop'))
 * ```
 */
export interface WaitWord<P extends string = string> {
  readonly view: Int32Array;
  readonly at: number;
  readonly [protocol]: P;
}

/** Int32 slots one wait word takes. */
export const WORD_SLOTS = 4;
const SEQ = 0;
const SLEEPERS = 1;
const ARMED = 2;
const LINGERING = 3;

/** The wait word at `view[at .. at + WORD_SLOTS)`. */
export function wordAt<P extends string>(view: Int32Array, at: number): WaitWord<P> {
  if (!Number.isInteger(at) || at < 0 || at + WORD_SLOTS > view.length) {
    throw new InvalidArgumentError(`a wait word needs slots ${at}..${at + WORD_SLOTS - 1} of a view of ${view.length}`);
  }
  return { view, at } as WaitWord<P>;
}

/** A wait word in memory of its own. */
export function newWord<P extends string>(): WaitWord<P> {
  return wordAt<P>(new Int32Array(new SharedArrayBuffer(WORD_SLOTS * 4)), 0);
}

/** The word's SEQ now. */
export function seqOf(w: WaitWord): number {
  return Atomics.load(w.view, w.at + SEQ);
}

/** Waiters registered on the word now (a hint: it may change at once). */
export function sleepersOf(w: WaitWord): number {
  return Atomics.load(w.view, w.at + SLEEPERS);
}

/** Writer: wakes whoever is registered on the word, bumping SEQ only when a waiter armed it (invariant 2, 3). */
export function ring(w: WaitWord): void {
  const v = w.view;
  const at = w.at;
  if (Atomics.load(v, at + SLEEPERS) > 0 && Atomics.load(v, at + SEQ) === Atomics.load(v, at + ARMED)) {
    Atomics.add(v, at + SEQ, 1);
    Atomics.notify(v, at + SEQ);
  }
}

/** Writer: bumps SEQ, then wakes every registered waiter if there is one (invariant 2, 3). */
export function notifyAll(w: WaitWord): void {
  Atomics.add(w.view, w.at + SEQ, 1);
  if (Atomics.load(w.view, w.at + SLEEPERS) > 0) Atomics.notify(w.view, w.at + SEQ);
}

/** Writer: bumps SEQ and wakes no one (the caller then decides how many: {@link notifyCounted}). */
export function bump(w: WaitWord): void {
  Atomics.add(w.view, w.at + SEQ, 1);
}

/**
 * Writer: wakes `n` registered waiters (after a bump), plus every lingering async park, which would
 * otherwise take some of the n wake-ups (invariant 6). Does nothing when nobody is registered.
 */
export function notifyCounted(w: WaitWord, n: number): void {
  const v = w.view;
  const at = w.at;
  const lingering = Atomics.load(v, at + LINGERING);
  if (n > 0 && Atomics.load(v, at + SLEEPERS) + lingering > 0) Atomics.notify(v, at + SEQ, n + lingering);
}

/** Waiter: registers on the word and arms it (invariant 1); returns the SEQ to park on. */
export function register(w: WaitWord): number {
  const v = w.view;
  const at = w.at;
  Atomics.add(v, at + SLEEPERS, 1);
  const seen = Atomics.load(v, at + SEQ);
  for (;;) {
    const a = Atomics.load(v, at + ARMED);
    if (((seen - a) | 0) <= 0 || Atomics.compareExchange(v, at + ARMED, a, seen) === a) return seen;
  }
}

/**
 * Waiter: takes the registration back. `lingering`: the waiter's async park, which it stopped
 * caring for before it ended (invariant 5): it is counted until it settles, and settled by a notify
 * from whoever leaves the word with no one registered (this waiter now, or the last one after it).
 */
export function unregister(w: WaitWord, lingering?: Promise<unknown>): void {
  const v = w.view;
  const at = w.at;
  if (lingering === undefined) {
    // The last one out ends parks left lingering by waiters that left before it (invariant 5).
    if (Atomics.sub(v, at + SLEEPERS, 1) === 1 && Atomics.load(v, at + LINGERING) > 0) Atomics.notify(v, at + SEQ);
    return;
  }
  Atomics.add(v, at + LINGERING, 1);
  void lingering.then(() => Atomics.sub(v, at + LINGERING, 1));
  if (Atomics.sub(v, at + SLEEPERS, 1) === 1) Atomics.notify(v, at + SEQ);
}
