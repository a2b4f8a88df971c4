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
 * SLEEPERS and LINGERING each hold a count (low 16 bits) and an epoch (high 16 bits): a census
 * (invariant 7) moves both to a new epoch with a count of 0. Read them with {@link sleepersOf} and
 * {@link lingeringOf}; before any census (the usual case) the slot is the count itself.
 *
 * A belled word (made by {@link wordAt} with a bell) takes one slot more, [at + 4] BELLED: sync
 * waiters registered on it that sleep on the bell (another wait word, shared by every thread that
 * may write the word: bell.ts) instead of on the word itself, so that one thread can sleep on
 * several words at once (a thread parks on one address). BELLED is a count and an epoch too: the
 * bell's epoch (invariant 9).
 *
 * Waiter (every waiter, sync or async, in every layer; sleep.ts, until.ts, select-wait.ts):
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
 *    writer (ring, a census) or by a notify whenever SLEEPERS > 0 (notifyAll). Not on a counted word
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
 *    "X sees SLEEPERS > 0" holds while W's registration is counted; a census that takes it out of
 *    the count comes after W's load of SEQ and bumps SEQ (7), so W is then in the first case.
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
 *    A waiter whose take-back is not counted (7) and that leaves a park lingering notifies as well.
 * 6. notifyCounted (the pool's task word, where waking every idle worker per task would cost a
 *    thundering herd): a notify of n wakes the first n queued parks, lingering ones included. So it
 *    adds LINGERING to n; and a waiter that stops early on such a word must look for work again
 *    before it parks anew (a wake-up it took in the instant before it counted itself lingering is
 *    then not lost: it is the one who got it). Waiters that leave for good (abort) must not wait
 *    on a counted word, nor may a waiter that would not take the work its wake-up announces: it
 *    would spend the wake-up, and the work would wait for another waiter's timeout. The pool's
 *    workers that claim nothing (running as many tasks as they may, recycling, asked to leave)
 *    sleep on a word of their own (pool/shared/layout.ts WAKE). A census wakes every park of a
 *    counted word: each woken worker looks for work and sleeps again, as after any wake-up.
 * 7. A thread that dies while registered (terminated, crashed, out of memory) never takes its
 *    registrations back, nor the LINGERING counts of its parks (V8 drops a dead thread's parks from
 *    its queue, but not our counts): without a repair SLEEPERS stayed > 0 for good, every later
 *    notifyAll paid an Atomics.notify, and the pool read a dead worker as a sleeping one. So a
 *    census moves SLEEPERS and LINGERING to a new epoch with count 0, then bumps SEQ and notifies
 *    every park. It is safe at any moment:
 *    - register() reads SLEEPERS again after it reads SEQ and registers anew if the epoch moved.
 *      So a census that uncounts a registration its waiter relies on comes after that waiter's
 *      load of SEQ, and its bump and notify end the park (3's first case): the waiter wakes and
 *      registers again before it looks again.
 *    - unregister() takes back only a registration counted in the current epoch. Each thread keeps
 *      a ledger per word: registrations it holds, and how many of them are counted (in which
 *      epoch). It takes back an uncounted one first: one thread's registrations on one word are
 *      interchangeable, since whichever stays registered is either counted or was woken by the
 *      census that uncounted it.
 *    - a park's LINGERING count is dropped only in the epoch it was added in; the census's notify
 *      ended every park queued at that moment.
 *    A writer holds a census when a notify it sends wakes no park while SLEEPERS (or LINGERING)
 *    says some are there: every registered waiter is then between its register() and its park
 *    (the census costs each one look more) or dead. At most one census of a word per thread per
 *    {@link CENSUS_MIN_MS}, so an epoch comes round again (2^16 censuses) only after a minute of
 *    one thread's censuses back to back (a minute over the number of threads that census the
 *    word): a registration held across all of them would be miscounted, and a census wakes every
 *    parked registrant, so only a waiter whose thread stands still that long with its wake-up
 *    unhandled could hold one. A ring() word whose count a dead waiter keeps up costs its writers
 *    one notify: after it SEQ !== ARMED, and they skip until a waiter arms the word again; the
 *    first notify after the last live one leaves then holds the census.
 *    A census of a belled word also rings its bell (9), which ends the parks of its bell sleepers.
 *    A sync waiter registered on several words parks on one at a time, for at most SYNC_SLICE_MS
 *    (sleep.ts sleepAnySync, a selectSync taking turns): a census of another of its words uncounts
 *    it without waking it, and it looks at every word again when its slice ends, as it would have
 *    for a change of that word anyway. (Its notify woke nobody, so such waiters also make writers
 *    of the words they do not park on hold censuses, at most one per word per thread per ms.)
 * 8. A count that reaches 0xFFFF (65535 registrations, or lingering parks, on one word) is
 *    saturated: registrations and take-backs leave it as it is until a census, and it reads as
 *    65535, so writers notify. It never carries into the epoch.
 * 9. A bell sleeper registers on the bell, then on each word with BELLED + 1 after its
 *    registration there, then looks (1); it takes back in the reverse order. A belled word's
 *    writer, after its ring() or notifyAll() of the word (whether or not that notified), loads
 *    BELLED and rings the bell when it is > 0 (unless its entries are stale: below). So a writer
 *    whose change a bell sleeper's look did not see loads BELLED > 0 and then rings a bell the
 *    sleeper is registered on and armed: 3 on the bell. The bell's own writer skips nothing the
 *    word's did: it runs while the word counts a sleeper, and the sleeper is counted on the word
 *    from before its + 1 to after its - 1, unless a census of the word uncounted it. A census after
 *    its + 1 rang the bell. One between its registration on the word and its + 1 did not (BELLED
 *    did not count it), and later writers of the word may then skip the bell (SLEEPERS 0). So the
 *    sleeper loads every word's SEQ after its last BELLED + 1 and before it parks (sleep.ts
 *    sleepBelledSync): it sees that census's bump, or the census bumped after the load, so after
 *    the + 1, and rang the bell. Bell sleepers do not count as parks the word's notify should have
 *    woken (7): the census test subtracts BELLED.
 *    Repair. BELLED's epoch is the bell's: a sleeper's + 1 carries the epoch of the bell's SLEEPERS
 *    as it reads it then (after its registration on the bell: that registration's epoch or a later
 *    one), and starts BELLED afresh (count 1) when BELLED holds an older one; it takes its + 1
 *    back only in the epoch it added it in. An entry of an epoch the bell has left is stale: the
 *    census of the bell that left it came after the sleeper read that epoch, so after it read the
 *    bell's SEQ, and woke it (3's first case, on the bell; it looks and registers again), or the
 *    sleeper is dead. So is an entry of the bell's epoch while the bell counts no sleeper: a live
 *    sleeper counted on the bell in its entry's epoch stays counted there until after its - 1,
 *    so this one was uncounted (and woken) by a census before it read the epoch, or is dead; the
 *    writer then holds a census of the bell, after which the entry is stale. A writer that finds
 *    stale entries, instead of ringing the bell, moves BELLED to the bell's epoch with count 0
 *    (CAS from the value it read: a sleeper that entered since wrote the newer epoch and the CAS
 *    fails, or read the older one and was woken like the rest) and holds a census of the word,
 *    whose SLEEPERS counts a dead bell sleeper too. A dead bell sleeper stays counted on the bell,
 *    and while a live one is parked there a ring of the bell wakes someone, so 7's rule (a notify
 *    that wakes none) never censuses the bell, and the dead one's entries kept ringing it, waking
 *    every live bell sleeper at each write of their words. So a ring of the bell holds a census
 *    when it wakes fewer parks than the bell counts (every bell sleeper parks sync, and notify
 *    counts it): as safe as any census (7), and more than rare only while bell sleepers are awake
 *    between their registration and their park (at most one per thread per CENSUS_MIN_MS). The
 *    bell's epochs come round as any word's do (7). Bell sleepers wake for a change of any word
 *    whose BELLED counts one of them (every sleeper on the bell does), and look again.
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
  /** The bell its writers ring for bell sleepers (invariant 9), or undefined. */
  readonly bell: WaitWord | undefined;
  readonly [protocol]: P;
}

/** Int32 slots one wait word takes (a belled word takes one more: BELLED). */
export const WORD_SLOTS = 4;
const SEQ = 0;
const SLEEPERS = 1;
const ARMED = 2;
const LINGERING = 3;
const BELLED = WORD_SLOTS;

// SLEEPERS, LINGERING and BELLED: count in the low 16 bits (0xFFFF: saturated, invariant 8), epoch
// in the high 16 (invariant 7).
const COUNT = 0xffff;

function countOf(x: number): number {
  return x & COUNT;
}

function sameEpoch(a: number, b: number): boolean {
  return (a ^ b) >>> 16 === 0;
}

/** The next epoch after `x`'s, with a count of 0 (wraps after 2^16 epochs). */
function nextEpoch(x: number): number {
  return ((x >>> 16) + 1) << 16;
}

/**
 * Least time between two censuses of one word by one thread (invariant 7). A dead thread's
 * registration is repaired by the first notify that wakes nobody after it died, unless this thread
 * held a census of that word less than this long before: then by a later one.
 */
export const CENSUS_MIN_MS = 1;

/**
 * The wait word at `view[at .. at + WORD_SLOTS)`; with a `bell`, a belled word whose BELLED is
 * `view[at + WORD_SLOTS]` (invariant 9).
 */
export function wordAt<P extends string>(view: Int32Array, at: number, bell?: WaitWord): WaitWord<P> {
  const slots = bell === undefined ? WORD_SLOTS : WORD_SLOTS + 1;
  if (!Number.isInteger(at) || at < 0 || at + slots > view.length) {
    throw new InvalidArgumentError(`a wait word needs slots ${at}..${at + slots - 1} of a view of ${view.length}`);
  }
  return { view, at, bell } as WaitWord<P>;
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
  return countOf(Atomics.load(w.view, w.at + SLEEPERS));
}

/** Async parks counted as lingering on the word now (invariant 5; a hint). */
export function lingeringOf(w: WaitWord): number {
  return countOf(Atomics.load(w.view, w.at + LINGERING));
}

/** Bell sleepers counted on a belled word now (invariant 9; a hint; 0 for a word with no bell). */
export function belledOf(w: WaitWord): number {
  return w.bell === undefined ? 0 : countOf(Atomics.load(w.view, w.at + BELLED));
}

/** Holds a census of the word (invariant 7), unless this thread held one of it within CENSUS_MIN_MS. */
function maybeCensus(w: WaitWord): void {
  const t = performance.now();
  const l = ledgerOf(w);
  if (t - l.census < CENSUS_MIN_MS) return;
  l.census = t;
  const v = w.view;
  const at = w.at;
  newEpoch(v, at + SLEEPERS);
  newEpoch(v, at + LINGERING);
  Atomics.add(v, at + SEQ, 1);
  Atomics.notify(v, at + SEQ);
  if (w.bell !== undefined) ringBell(w, w.bell, false);
}

function newEpoch(v: Int32Array, i: number): void {
  for (;;) {
    const x = Atomics.load(v, i);
    if (Atomics.compareExchange(v, i, x, nextEpoch(x)) === x) return;
  }
}

/**
 * Notifies every park of the word; a census if it woke none though `expected` were counted as
 * parked here (registered waiters less bell sleepers, or lingering parks: invariants 7, 9).
 */
function notifyEvery(w: WaitWord, expected: number): void {
  if (Atomics.notify(w.view, w.at + SEQ) === 0 && expected > 0) maybeCensus(w);
}

/** The epoch of a SLEEPERS, LINGERING or BELLED value, with a count of 0. */
function epochOf(x: number): number {
  return x & ~COUNT;
}

/**
 * A belled word's writer: rings the bell for its bell sleepers (invariant 9). BELLED counts them in
 * the bell's epoch: entries of an older one are stale (each sleeper was woken by the census of the
 * bell that moved it on, or is dead), and are dropped, the word then held to a census.
 */
function ringBell(w: WaitWord, bell: WaitWord, mayCensus: boolean): void {
  const v = w.view;
  const i = w.at + BELLED;
  const b = Atomics.load(v, i);
  if (countOf(b) === 0) return;
  let s = Atomics.load(bell.view, bell.at + SLEEPERS);
  if (sameEpoch(b, s)) {
    if (countOf(s) > 0) {
      ringTheBell(bell);
      return;
    }
    // Counted here, yet the bell counts no sleeper in this epoch: each entry's sleeper was
    // uncounted there by a census before it entered (and so woken), or is dead. A census of the
    // bell moves its epoch on, which makes them stale.
    maybeCensus(bell);
    s = Atomics.load(bell.view, bell.at + SLEEPERS);
    if (sameEpoch(b, s)) return; // this thread held one within CENSUS_MIN_MS: a later writer will
  }
  // Stale (CAS from the value read: a sleeper that entered since wrote the newer epoch, kept).
  if (Atomics.compareExchange(v, i, b, epochOf(s)) === b && mayCensus) maybeCensus(w);
}

/**
 * Rings the bell: as {@link ring}, and a census when the notify wakes fewer parks than the bell
 * counts sleepers (invariant 9: a dead bell sleeper stays counted while live ones are parked, and
 * only the parks' count tells). Every bell sleeper parks sync: notify's count includes it.
 */
function ringTheBell(bell: WaitWord): void {
  const v = bell.view;
  const at = bell.at;
  const s = countOf(Atomics.load(v, at + SLEEPERS));
  if (s === 0 || Atomics.load(v, at + SEQ) !== Atomics.load(v, at + ARMED)) return;
  Atomics.add(v, at + SEQ, 1);
  if (Atomics.notify(v, at + SEQ) < s) maybeCensus(bell);
}

/** Writer: wakes whoever is registered on the word, bumping SEQ only when a waiter armed it (invariant 2, 3). */
export function ring(w: WaitWord): void {
  const v = w.view;
  const at = w.at;
  const s = countOf(Atomics.load(v, at + SLEEPERS));
  if (s === 0) return;
  if (Atomics.load(v, at + SEQ) === Atomics.load(v, at + ARMED)) {
    Atomics.add(v, at + SEQ, 1);
    notifyEvery(w, s - belledOf(w));
  }
  if (w.bell !== undefined) ringBell(w, w.bell, true);
}

/** Writer: bumps SEQ, then wakes every registered waiter if there is one (invariant 2, 3). */
export function notifyAll(w: WaitWord): void {
  const v = w.view;
  const at = w.at;
  Atomics.add(v, at + SEQ, 1);
  const s = countOf(Atomics.load(v, at + SLEEPERS));
  if (s === 0) return;
  notifyEvery(w, s - belledOf(w));
  if (w.bell !== undefined) ringBell(w, w.bell, true);
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
  const lingering = countOf(Atomics.load(v, at + LINGERING));
  const expected = countOf(Atomics.load(v, at + SLEEPERS)) + lingering;
  if (n > 0 && expected > 0 && Atomics.notify(v, at + SEQ, n + lingering) === 0) maybeCensus(w);
}

/**
 * One thread's registrations on one word (invariant 7): `held` registrations not yet taken back, of
 * which `counted` are counted in SLEEPERS in epoch `epoch` (the others a census uncounted, or a
 * saturated count absorbed); and when this thread last held a census of it.
 */
interface Ledger {
  epoch: number;
  counted: number;
  held: number;
  census: number;
}

const ledgers = new WeakMap<Int32Array, Map<number, Ledger>>();

function ledgerOf(w: WaitWord): Ledger {
  let byAt = ledgers.get(w.view);
  if (byAt === undefined) ledgers.set(w.view, (byAt = new Map()));
  let l = byAt.get(w.at);
  if (l === undefined) byAt.set(w.at, (l = { epoch: 0, counted: 0, held: 0, census: Number.NEGATIVE_INFINITY }));
  return l;
}

/** Brings the ledger to SLEEPERS's epoch: a census since uncounted every registration it counted. */
function settle(l: Ledger, s: number): void {
  const e = s >>> 16;
  if (l.epoch !== e) {
    l.epoch = e;
    l.counted = 0;
  }
}

/** Waiter: registers on the word and arms it (invariants 1, 7); returns the SEQ to park on. */
export function register(w: WaitWord): number {
  const v = w.view;
  const at = w.at;
  const l = ledgerOf(w);
  l.held++;
  for (;;) {
    const s = Atomics.load(v, at + SLEEPERS);
    settle(l, s);
    if (countOf(s) !== COUNT) {
      if (Atomics.compareExchange(v, at + SLEEPERS, s, s + 1) !== s) continue;
      l.counted++;
    }
    const seen = Atomics.load(v, at + SEQ);
    // A census since the add uncounted it, maybe before SEQ was read: register again (invariant 7).
    if (!sameEpoch(Atomics.load(v, at + SLEEPERS), s)) continue;
    for (;;) {
      const a = Atomics.load(v, at + ARMED);
      if (((seen - a) | 0) <= 0 || Atomics.compareExchange(v, at + ARMED, a, seen) === a) return seen;
    }
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
  const l = ledgerOf(w);
  let s = Atomics.load(v, at + SLEEPERS);
  settle(l, s);
  // A registration this thread holds uncounted is the one taken back (invariant 7).
  const counted = l.held <= l.counted;
  if (l.held > 0) l.held--;
  if (lingering !== undefined) linger(v, at, lingering); // before SLEEPERS goes down (invariant 5)
  if (!counted) {
    if (lingering !== undefined) Atomics.notify(v, at + SEQ);
    return;
  }
  if (l.counted > 0) l.counted--;
  for (;;) {
    if (countOf(s) === COUNT || countOf(s) === 0) return; // saturated (invariant 8), or not ours to take
    if (Atomics.compareExchange(v, at + SLEEPERS, s, s - 1) === s) break;
    const now = Atomics.load(v, at + SLEEPERS);
    if (!sameEpoch(now, s)) {
      settle(l, now); // a census took it out meanwhile
      return;
    }
    s = now;
  }
  if (countOf(s) !== 1) return;
  // The last one out ends parks left lingering, its own or earlier waiters' (invariant 5).
  const lingeringNow = countOf(Atomics.load(v, at + LINGERING));
  if (lingering !== undefined || lingeringNow > 0) notifyEvery(w, lingeringNow);
}

/** Counts `park` in LINGERING until it settles, in the epoch it was added in (invariants 5, 7, 8). */
function linger(v: Int32Array, at: number, park: Promise<unknown>): void {
  const i = at + LINGERING;
  for (;;) {
    const x = Atomics.load(v, i);
    if (countOf(x) === COUNT) return;
    if (Atomics.compareExchange(v, i, x, x + 1) === x) {
      void park.then(() => {
        for (;;) {
          const y = Atomics.load(v, i);
          if (!sameEpoch(x, y) || countOf(y) === COUNT || countOf(y) === 0) return;
          if (Atomics.compareExchange(v, i, y, y - 1) === y) return;
        }
      });
      return;
    }
  }
}

/**
 * Bell sleeper: counts itself in a belled word's BELLED, in the bell's epoch (invariant 9), after
 * it registered on the bell and on the word and before it looks. Returns what {@link leaveBelled}
 * takes.
 */
export function enterBelled(w: WaitWord): number {
  const v = w.view;
  const i = w.at + BELLED;
  const bell = w.bell;
  if (bell === undefined) return -1; // not a belled word: nothing to count
  for (;;) {
    const b = Atomics.load(v, i);
    // The bell's epoch, read after b: b's is the same or older (entries write the epoch they read).
    const e = epochOf(Atomics.load(bell.view, bell.at + SLEEPERS));
    if (!sameEpoch(b, e)) {
      // b counts stale entries only (invariant 9): this one starts the bell's epoch afresh.
      if (Atomics.compareExchange(v, i, b, e + 1) === b) return e;
      continue;
    }
    if (countOf(b) === COUNT) return -1; // saturated (invariant 8): stays so until moved on
    if (Atomics.compareExchange(v, i, b, b + 1) === b) return b;
  }
}

/** Bell sleeper: takes back what {@link enterBelled} added, in its epoch only (invariant 9). */
export function leaveBelled(w: WaitWord, entered: number): void {
  if (entered === -1) return;
  const v = w.view;
  const i = w.at + BELLED;
  for (;;) {
    const b = Atomics.load(v, i);
    if (!sameEpoch(b, entered) || countOf(b) === COUNT || countOf(b) === 0) return;
    if (Atomics.compareExchange(v, i, b, b - 1) === b) return;
  }
}
