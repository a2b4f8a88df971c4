/**
 * A FIFO-fair weighted gate in shared memory: the core of `Semaphore` and `Mutex`.
 *
 * Layout (Int32 slots of `sab`):
 *
 *   0 AVAILABLE  permits free now
 *   1 NEXT       next ticket to hand out
 *   2 SERVING    ticket now at the head of the line
 *   3 MAX        permits the gate was made with; AVAILABLE never exceeds it
 *   4..7 MOVED   wait word (memory/wait/word.ts): notified on every release and every change of SERVING
 *   8.. ABANDON  ring of RING slots, the state of ticket t in ABANDON[t % RING] (H = RING / 2):
 *                  t: given up; t + H + 1: claimed by its owner at the head; t + H + 2: done
 *                  (passed over); anything else: pending (a value left by ticket t - RING)
 *   8 + RING.. NEED  ring of RING slots: NEED[t % RING] permits ticket t waits for
 *
 * A waiter takes a ticket (CAS on NEXT) and waits until SERVING reaches it and enough permits are
 * free; only the head subtracts permits, so a large request at the head is never overtaken by small
 * ones behind it. The head then advances SERVING. Tickets are numbered mod 2^32; all comparisons
 * are of differences, so wrap-around is harmless.
 *
 * Giving up (timeout, abort) while not at the head: the waiter writes its ticket into ABANDON, then
 * re-reads SERVING. Whoever finds SERVING === t next (the advancing head, or the waiter itself on
 * that re-read) clears the mark with a CAS from t; exactly one CAS wins, and the winner advances
 * SERVING past t. So a timed-out waiter leaves no hole in the line and takes no permit.
 *
 * At most RING tickets may be out at once (NEXT - SERVING < RING), so two live tickets never share
 * an ABANDON slot; further waiters wait for room before taking a ticket.
 *
 * Invariants of the gate's line, cited below as "gate.ts invariant N":
 * 1. SERVING moves only by #advance, called by exactly one thread per ticket: the one whose CAS
 *    moved that ticket's ABANDON slot to claimed (its owner at the head) or from given-up to done.
 * 2. The owner of ticket t takes permits only after claiming t (CAS from a pending value). Once t
 *    is given up or done, the claim fails and the owner lines up again with a new ticket.
 * 3. A waiter that dies keeps its ticket: so a waiter that sees the same head h, with the permits h
 *    waits for free (AVAILABLE >= NEED[h]) and the word not moved, for GATE_STALL_MS on its own
 *    clock, gives h up on its owner's behalf (CAS pending -> h) and, h being the head, passes it.
 *    A live owner that was merely stalled that long loses its place (invariant 2), never a permit.
 * 4. Giving up is the same CAS for the owner (timeout, abort) and for another thread (invariant 3),
 *    so exactly one of them passes the ticket, and no ticket is passed twice.
 * 5. One thread's async waiters on a gate hold their tickets, and so take their permits, in the order
 *    of their calls (sleeper.ts). Only the first of them can find its ticket passed (invariant 3;
 *    SERVING passes tickets in order). It then takes the ticket of the waiter behind it, that one
 *    the next one's, and the last a new ticket (`hand`, which writes NEED for the ticket's new
 *    owner): the thread loses one place per ticket passed, and its calls keep their order. A
 *    newcomer takes its ticket only after its thread's earlier waiters have been served once (a
 *    passed one has its new place by then). Before this rule the first lined up again behind its
 *    own later call, which went first; code that awaits its acquires in call order then held the
 *    later permit while it waited for the earlier, and two such threads held a Semaphore(2)
 *    between them until their timeouts.
 *
 * Waiting: a blocking waiter (`takeSync`) sleeps on MOVED itself (memory/wait/until.ts). The async
 * waiters of one thread share one sleep on MOVED (sleeper.ts), which serves them in ticket order.
 */
import { deadlineFor, now } from '../../memory/clock.js';
import { CorruptMemoryError, TimeoutError } from '../../memory/errors.js';
import { integer } from '../../memory/validate.js';
import {
  abortError,
  blockUntil,
  limitsOf,
  notifyAll,
  seqOf,
  type WaitOptions,
  type WaitWord,
  WORD_SLOTS,
  wordAt,
} from '../../memory/wait/index.js';
import { GateSleeper, type Taker } from './sleeper.js';

const AVAILABLE = 0;
const NEXT = 1;
const SERVING = 2;
const MAX = 3;
const MOVED = 4;
const ABANDON = MOVED + WORD_SLOTS;
export const RING = 1024;
/** Most permits a gate holds, and most taken or given at once. */
export const MAX_COUNT = 0x3fffffff;
const NEED = ABANDON + RING;
const SLOTS = NEED + RING;
const MASK = RING - 1;
const H = RING / 2;
/** How long a head that could take its permits may stand still before others pass it (invariant 3). */
export const GATE_STALL_MS = 1000;
/** Longest sleep of a waiter, so that it looks at a head that stands still. */
const POLL_MS = GATE_STALL_MS / 4;

const claimedMark = (t: number): number => (t + H + 1) | 0;
const doneMark = (t: number): number => (t + H + 2) | 0;

/** What a waiter saw of the head: which ticket, the word's SEQ then, and since when (its own clock). */
interface HeadWatch {
  head: number;
  seq: number;
  since: number;
}

/** Bytes of a gate's memory (its body: the owner's tag block follows, memory/shared-tag.ts). */
export const GATE_BYTES = SLOTS * 4;

/** Initializes a new gate's (zeroed) memory. */
export function initGate(sab: SharedArrayBuffer, permits: number): void {
  const v = new Int32Array(sab, 0, SLOTS);
  v[AVAILABLE] = permits;
  v[MAX] = permits;
  // A cleared slot i must never equal a ticket that maps to it (t % RING === i): i + RING/2 does not.
  for (let i = 0; i < RING; i++) v[ABANDON + i] = i + H;
}

/** The permits a gate's memory says it was made with (its one fixed word), for the owner's body check. */
export function gateMax(sab: SharedArrayBuffer): number {
  return new Int32Array(sab, 0, SLOTS)[MAX];
}

/** Heads of a ticket line this thread passed because they stood still (invariant 3). */
export const gateStats = { passedDead: 0 };

export class TicketGate {
  readonly v: Int32Array;
  readonly #moved: WaitWord<'TicketGate.moved'>;
  /** This thread's async waiters on this gate. */
  readonly #sleeper: GateSleeper;
  /**
   * What this thread saw of the head (invariant 3), kept across calls: a watch per call started
   * afresh with each one, so callers whose timeouts (or tryTake polls) were shorter than
   * GATE_STALL_MS never passed a dead head, and the line stayed stuck for them for good. Sound
   * across calls: the watch holds only while the word's SEQ stands still, and every release and
   * every move of the line bumps it.
   */
  readonly #watch: HeadWatch = { head: 0, seq: 0, since: -1 };

  /** Views a gate's memory (checked by its owner's kind, memory/shared-object.ts). */
  constructor(sab: SharedArrayBuffer) {
    this.v = new Int32Array(sab, 0, SLOTS);
    this.#moved = wordAt(this.v, MOVED);
    this.#sleeper = new GateSleeper(this.#moved);
  }

  get available(): number {
    return Atomics.load(this.v, AVAILABLE);
  }

  get max(): number {
    return this.v[MAX];
  }

  /** Advances SERVING past `t` (the caller is the head, holding ticket t) and past abandoned tickets. */
  #advance(t: number): void {
    const v = this.v;
    let s = (t + 1) | 0;
    for (;;) {
      Atomics.store(v, SERVING, s);
      const slot = ABANDON + (s & MASK);
      if (Atomics.compareExchange(v, slot, s, doneMark(s)) !== s) break;
      s = (s + 1) | 0;
    }
    notifyAll(this.#moved);
  }

  /** Claims ticket `t` for its owner (invariant 2); false when it was given up or passed meanwhile. */
  #claim(t: number): boolean {
    const slot = ABANDON + (t & MASK);
    const x = Atomics.load(this.v, slot);
    if (x === t || x === doneMark(t) || x === claimedMark(t)) return false;
    return Atomics.compareExchange(this.v, slot, x, claimedMark(t)) === x;
  }

  /** Gives ticket `t` up (its owner, or another thread for a dead owner: invariant 4). */
  #abandon(t: number): boolean {
    const v = this.v;
    const slot = ABANDON + (t & MASK);
    const x = Atomics.load(v, slot);
    if (x === t || x === doneMark(t) || x === claimedMark(t)) return false;
    if (Atomics.compareExchange(v, slot, x, t) !== x) return false;
    if (Atomics.load(v, SERVING) === t && Atomics.compareExchange(v, slot, t, doneMark(t)) === t) {
      this.#advance(t);
    }
    return true;
  }

  /**
   * Invariant 3: a waiter not at the head watches it, and passes a head that stood still for
   * GATE_STALL_MS while it could have taken its permits.
   */
  #watchHead(w: HeadWatch): void {
    const v = this.v;
    const h = Atomics.load(v, SERVING);
    if (h === Atomics.load(v, NEXT) || Atomics.load(v, AVAILABLE) < Atomics.load(v, NEED + (h & MASK))) {
      w.since = -1;
      return;
    }
    const seq = seqOf(this.#moved);
    const t = now();
    if (w.since < 0 || w.head !== h || w.seq !== seq) {
      w.head = h;
      w.seq = seq;
      w.since = t;
    } else if (t - w.since >= GATE_STALL_MS && this.#abandon(h)) {
      gateStats.passedDead++;
      w.since = -1;
    }
  }

  /** Takes `n` permits only if no one is waiting and they are free now. */
  tryTake(n: number): boolean {
    const v = this.v;
    const s = Atomics.load(v, SERVING);
    if (Atomics.compareExchange(v, NEXT, s, (s + 1) | 0) !== s) {
      this.#watchHead(this.#watch); // someone waits: pass a head that died there (invariant 3)
      return false;
    }
    if (!this.#claim(s)) return false; // passed over meanwhile (stalled a second): it advanced
    const ok = Atomics.load(v, AVAILABLE) >= n;
    if (ok) Atomics.sub(v, AVAILABLE, n);
    this.#advance(s);
    return ok;
  }

  /** Returns an attempt function for the wait helpers, and what to do if the wait is given up. */
  #taker(n: number): Taker {
    const v = this.v;
    let ticket: number | undefined;
    const watch = this.#watch;
    const taker: Taker = {
      attempt: () => {
        // Tickets taken in this call that SERVING was already past. SERVING moves only through issued
        // tickets, and passes one only after it stood still GATE_STALL_MS at the head, so even one is
        // a thread paused a second between two loads; several in a row is damaged memory (a SERVING
        // far ahead of NEXT made every new ticket look passed over, and this loop never ended).
        let passedFresh = 0;
        let fresh = false;
        taker.requeued = false;
        for (;;) {
          if (ticket === undefined) {
            const t = Atomics.load(v, NEXT);
            if (((t - Atomics.load(v, SERVING)) | 0) >= RING) {
              this.#watchHead(watch);
              return undefined;
            }
            if (Atomics.compareExchange(v, NEXT, t, (t + 1) | 0) !== t) continue;
            Atomics.store(v, NEED + (t & MASK), n);
            ticket = t;
            fresh = true;
          }
          const serving = Atomics.load(v, SERVING);
          if (serving !== ticket) {
            if (((serving - ticket) | 0) > 0) {
              if (fresh && ++passedFresh > 3) {
                throw new CorruptMemoryError(`shared memory is damaged: the line of waiters serves ticket ${serving}, past the last one issued (${ticket})`);
              }
              // SERVING went past our unclaimed ticket: it was passed as dead (invariant 3) while
              // this thread was stalled. Line up again, or we would wait for a turn long gone.
              ticket = undefined;
              taker.requeued = true;
              continue;
            }
            this.#watchHead(watch);
            return undefined;
          }
          if (Atomics.load(v, AVAILABLE) < n) return undefined;
          const t = ticket;
          ticket = undefined;
          if (!this.#claim(t)) {
            taker.requeued = true; // passed over as dead (invariant 3): line up again
            continue;
          }
          Atomics.sub(v, AVAILABLE, n);
          this.#advance(t);
          return true;
        }
      },
      giveUp: () => {
        const t = ticket;
        ticket = undefined;
        if (t === undefined) return;
        // Passed over already (invariant 3): nothing to give up, and its ABANDON slot may belong
        // to a later ticket by now.
        if (((Atomics.load(v, SERVING) - t) | 0) > 0) return;
        // At the head it passes its own ticket, unless another thread passed it already.
        if (Atomics.load(v, SERVING) === t) {
          if (this.#claim(t)) this.#advance(t);
        } else {
          this.#abandon(t);
        }
      },
      hasTicket: () => ticket !== undefined,
      hand: (t) => {
        const held = ticket;
        ticket = t;
        if (t !== undefined) Atomics.store(v, NEED + (t & MASK), n);
        return held;
      },
      requeued: false,
    };
    return taker;
  }

  takeSync(n: number, opts: WaitOptions | undefined, what: string): void {
    const { attempt, giveUp } = this.#taker(n);
    try {
      blockUntil(this.#moved, attempt, limitsOf(opts, what), POLL_MS);
    } catch (err) {
      giveUp();
      throw err;
    }
  }

  /**
   * Waits for `n` permits without blocking the thread. The ticket is taken now, so the place in
   * line is the call's; then the waiter joins this thread's line, which the sleeper serves.
   */
  take(n: number, opts: WaitOptions | undefined, what: string): Promise<void> {
    const signal = opts?.signal;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const t = this.#taker(n);
    // This thread's earlier waiters first (invariant 5): one passed over while the thread was stalled
    // lines up again before the newcomer takes a ticket. Behind its waiters for room, a newcomer
    // must not take a ticket before them.
    this.#sleeper.serveNow();
    if (!this.#sleeper.waitingForRoom && t.attempt()) return Promise.resolve();
    const deadline = deadlineFor(opts?.timeout);
    const timeoutError = () => new TimeoutError(`${what} timed out after ${opts?.timeout} ms`);
    if (deadline <= now()) {
      t.giveUp();
      return Promise.reject(timeoutError());
    }
    return this.#sleeper.wait(t, deadline, timeoutError, signal, POLL_MS);
  }

  /** Adds `n` permits; returns false (and adds nothing) if that would pass MAX. */
  give(n: number): boolean {
    const v = this.v;
    for (;;) {
      const a = Atomics.load(v, AVAILABLE);
      if (a + n > v[MAX]) return false;
      if (Atomics.compareExchange(v, AVAILABLE, a, a + n) === a) break;
    }
    notifyAll(this.#moved);
    return true;
  }
}

/** Checks a permit count argument: a positive safe integer. */
export function checkCount(n: unknown, what: string, allowZero = false): number {
  return integer(n, what, { min: allowZero ? 0 : 1, max: MAX_COUNT });
}
