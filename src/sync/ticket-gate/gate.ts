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
 *   8.. LAPS     ring of RING slots: ticket t's state is in LAPS[t % RING] (below)
 *   8 + RING.. NEED  ring of RING slots: NEED[t % RING] permits ticket t waits for
 *
 * A waiter takes a ticket (CAS on NEXT) and waits until SERVING reaches it and enough permits are
 * free; only the head subtracts permits, so a large request at the head is never overtaken by small
 * ones behind it. The head then advances SERVING. Tickets are numbered mod 2^32; all comparisons
 * are of differences, so wrap-around is harmless.
 *
 * The tickets that share a slot (t, t + RING, t + 2 RING, ...) are its laps. A slot's value names
 * one lap L and a state: L + 3d + k, with d in 0..MAX_DEPTH and k in 0..2. Its subject is the lap
 * u = L - d RING; the laps after u up to L (d > 0) were burned (below). k is the subject's state:
 *   d = 0: k = 0 given up (settled), 1 given up (unsettled: its owner is still deciding who passes
 *          it), 2 taken at the head (claimed by its owner, or passed by whoever won it there; that
 *          thread advances SERVING past it)
 *   d > 0: k = 0 waiting (a live ticket), 1 given up (unsettled), 2 taken at the head
 * A ticket whose owner has written nothing yet waits: its slot still names the lap before it.
 *
 * Giving up (timeout, abort) while not at the head: the waiter marks its ticket given up
 * (unsettled), then re-reads SERVING and settles it: at the head it CASes the mark to taken and
 * advances past it; elsewhere to settled. The advancing head does the same CAS when it finds an
 * unsettled ticket. Exactly one CAS wins, and the winner passes the ticket: a timed-out waiter
 * leaves no hole in the line and takes no permit.
 *
 * A given-up ticket's slot is free for the next lap at once, though the head may not have passed it:
 * so tickets given up behind a head that cannot go on (its permits held long) do not fill the ring.
 * Only the slot of a live ticket is not: a ticket that comes to it one lap later is burned (handed
 * out dead: recorded in the slot, then NEXT moves past it) and the newcomer takes the next one. So
 * a newcomer always gets its place in line at once, while fewer than RING waiters are live, no live
 * waiter outlasts MAX_DEPTH laps of burns, and the line is under MAX_LINE tickets; else it waits for
 * room (a waiter for room has no place in line yet: those of different threads go in any order).
 *
 * Invariants of the gate's line, cited below as "gate.ts invariant N":
 * 1. SERVING moves only by #advance, called by exactly one thread per ticket: the one whose CAS
 *    moved that ticket's slot to taken (its owner at the head, or the winner at an unsettled one),
 *    or the advancing head itself for a ticket settled as given up or burned (no CAS: no one else
 *    acts on such a ticket).
 * 2. The owner of ticket t takes permits only after claiming t (CAS from waiting to taken). Once t
 *    is given up or passed, the claim fails and the owner lines up again with a new ticket.
 * 3. A waiter that dies keeps its ticket: so a waiter that sees the same head h, with the permits h
 *    waits for free (AVAILABLE >= NEED[h]) and the word not moved, for GATE_STALL_MS on its own
 *    clock, gives h up on its owner's behalf (CAS waiting -> given up) and, h being the head, passes it.
 *    A live owner that was merely stalled that long loses its place (invariant 2), never a permit.
 * 4. Giving up is the same CAS for the owner (timeout, abort) and for another thread (invariant 3),
 *    so exactly one of them passes the ticket, and no ticket is passed twice.
 * 5. A slot holds at most one live ticket. A ticket within a lap of SERVING is handed out live
 *    without looking (every earlier lap of its slot was passed). One further on is decided from its
 *    slot's value, in NEXT order: live if the lap before it is no longer live (given up or taken),
 *    else burned; a burn is recorded in the slot before NEXT passes the ticket, with a CAS that
 *    fails if the live ticket changed its state meanwhile. (A ticket handed out by the first rule
 *    just after another thread recorded it burned is burned: its owner's claim fails, and it lines
 *    up again as in invariant 2.)
 * 6. No one writes over an unsettled value of another lap: it settles it first (as its owner would).
 *    A settled value may be written over by the next lap; the head, coming to a lap a slot shows
 *    only as earlier than its value (given up and written over, or burned), passes it.
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
const LAPS = MOVED + WORD_SLOTS;
export const RING = 1024;
/** Most permits a gate holds, and most taken or given at once. */
export const MAX_COUNT = 0x3fffffff;
const NEED = LAPS + RING;
const SLOTS = NEED + RING;
const MASK = RING - 1;
/** Most laps burned over one live ticket: a slot value's offset from its lap, 3d + k, stays under RING. */
export const MAX_DEPTH = 340;
const MAX_OFF = 3 * MAX_DEPTH + 2;
/** Longest line (NEXT - SERVING, burned and given-up tickets included); lap distances stay far from 2^31. */
const MAX_LINE = 1 << 28;
/** How long a head that could take its permits may stand still before others pass it (invariant 3). */
export const GATE_STALL_MS = 1000;
/** Longest sleep of a waiter, so that it looks at a head that stands still. */
const POLL_MS = GATE_STALL_MS / 4;

// A slot value's state (k of L + 3d + k): the subject waits, is given up (0 with d = 0: settled), is
// given up and unsettled, or was taken at the head.
const WAITING = 0;
const UNSETTLED = 1;
const TAKEN = 2;

/**
 * How many tickets after ticket `t` (of the same slot) lies the lap that slot value `x` names, given
 * `off` = (x - t) & MASK: 0 the same lap, a positive multiple of RING a later one, negative an
 * earlier one. A value from far away (the initial ones, damaged memory) counts as earlier.
 */
function lapAfter(x: number, t: number, off: number): number {
  const d = (x - off - t) | 0;
  return off > MAX_OFF || d >= MAX_LINE || d <= -MAX_LINE ? ANCIENT : d;
}
/** lapAfter() of a value from far away. */
const ANCIENT = -0x40000000;

/** What a ticket that is not out yet would be, from its slot's value (#lapFor). */
const KEEP = 0; // the slot's earlier lap is not live: the ticket may be handed out live
const BURN = 1; // it is live: the ticket is to be burned
const FULL = 2; // it is live and MAX_DEPTH laps were burned over it already: no room
const STALE = 3; // the slot already names this lap or a later one: NEXT was read before it moved
const HELP = 4; // the slot shows an unsettled earlier lap: settle it first (invariant 6)

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
  // Slot i names lap i - RING as given up: the first lap (ticket i) finds it waiting and free.
  for (let i = 0; i < RING; i++) v[LAPS + i] = i - RING;
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

  /**
   * Advances SERVING past `t` (the caller is the head, holding ticket t: invariant 1) and past the
   * tickets after it that are given up or burned, up to the first that waits or is not out yet.
   */
  #advance(t: number): void {
    const v = this.v;
    let s = t;
    next: for (;;) {
      s = (s + 1) | 0;
      // Stored once per ticket: storing s again after a lost CAS below could move SERVING back
      // past the winner, which advanced it already.
      Atomics.store(v, SERVING, s);
      const slot = LAPS + (s & MASK);
      for (;;) {
        const x = Atomics.load(v, slot);
        const off = (x - s) & MASK;
        const lap = lapAfter(x, s, off);
        if (lap < 0) break next; // s waits and wrote nothing yet, or is not out yet
        const depth = (off / 3) | 0;
        if (lap === depth * RING) {
          // s is the value's subject
          const k = off - 3 * depth;
          if (k === TAKEN || (k === WAITING && depth > 0)) break next; // another thread passes it, or it waits
          if (k === UNSETTLED && Atomics.compareExchange(v, slot, x, (x + 1) | 0) !== x) continue; // look again
        }
        // s is given up (settled, or by us just now), burned, or written over by a later lap
        // (invariant 6). A lap burned just now may not be out yet: put NEXT past it, as its burner will.
        if (lap === 0 && Atomics.load(v, NEXT) === s) Atomics.compareExchange(v, NEXT, s, (s + 1) | 0);
        continue next;
      }
    }
    notifyAll(this.#moved);
  }

  /**
   * Settles the unsettled value `x` in `slot`, whose subject is ticket `u`: if u is the head, takes
   * it and passes it; else marks it settled (invariant 6). Nothing if another thread settled it first.
   */
  #settle(slot: number, x: number, u: number): void {
    const v = this.v;
    if (Atomics.load(v, SERVING) === u) {
      if (Atomics.compareExchange(v, slot, x, (x + 1) | 0) === x) this.#advance(u);
    } else {
      Atomics.compareExchange(v, slot, x, (x - ((x - u) & MASK)) | 0);
    }
  }

  /**
   * If slot value `x` names an earlier lap than ticket `t` (same slot) whose subject is unsettled,
   * settles it and returns true (the caller looks again); else false.
   */
  #settledEarlier(slot: number, x: number, t: number, off: number, lap: number): boolean {
    if (lap <= ANCIENT || off % 3 !== UNSETTLED) return false;
    this.#settle(slot, x, (t + lap - ((off / 3) | 0) * RING) | 0);
    return true;
  }

  /**
   * Moves ticket `t`'s slot from waiting to the state `k` (TAKEN: claimed; UNSETTLED: given up)
   * with a CAS; false if t no longer waits (given up, or passed). Invariants 2 and 4.
   */
  #leave(t: number, k: number): boolean {
    const v = this.v;
    const slot = LAPS + (t & MASK);
    for (;;) {
      const x = Atomics.load(v, slot);
      const off = (x - t) & MASK;
      const lap = lapAfter(x, t, off);
      let to: number;
      if (lap < 0) {
        // t wrote nothing yet: the slot still names the lap before it
        if (this.#settledEarlier(slot, x, t, off, lap)) continue;
        to = (t + k) | 0;
      } else if (off >= 3 && off % 3 === WAITING && lap === ((off / 3) | 0) * RING) {
        to = (x + k) | 0; // t waits, with laps burned over it
      } else {
        return false;
      }
      if (Atomics.compareExchange(v, slot, x, to) === x) {
        if (k === UNSETTLED) this.#settle(slot, to, t);
        return true;
      }
    }
  }

  /** Claims ticket `t` for its owner (invariant 2); false when it was given up or passed meanwhile. */
  #claim(t: number): boolean {
    return this.#leave(t, TAKEN);
  }

  /** Gives ticket `t` up (its owner, or another thread for a dead owner: invariant 4). */
  #abandon(t: number): boolean {
    return this.#leave(t, UNSETTLED);
  }

  /** What ticket `q`, not out yet, would be (KEEP, BURN, FULL, STALE, HELP), from its slot's value `x`. */
  #lapFor(q: number, x: number): number {
    const off = (x - q) & MASK;
    const lap = lapAfter(x, q, off);
    if (lap >= 0) return STALE;
    if (lap === -RING) {
      // the slot names the lap just before q: q may go live unless that lap's subject waits
      if (off < 3 || off % 3 !== WAITING) return KEEP;
      return off + 3 > MAX_OFF ? FULL : BURN;
    }
    // An earlier lap: the one after it, just before q, waits and wrote nothing.
    return lap > ANCIENT && off % 3 === UNSETTLED ? HELP : BURN;
  }

  /**
   * Hands out a ticket for `n` permits. Past one lap of the ring it burns the tickets whose slot
   * holds a live one (invariant 5); undefined when there is no room in the line.
   */
  #takeTicket(n: number): number | undefined {
    const v = this.v;
    outer: for (;;) {
      const t = Atomics.load(v, NEXT);
      const ahead = (t - Atomics.load(v, SERVING)) | 0;
      if (ahead < RING) {
        // Within a lap of the head: every earlier lap of t's slot was passed.
        if (Atomics.compareExchange(v, NEXT, t, (t + 1) | 0) !== t) continue;
        Atomics.store(v, NEED + (t & MASK), n);
        return t;
      }
      if (ahead >= MAX_LINE - RING) return undefined;
      // The first ticket from t whose slot holds no live one; none within a lap: no room.
      let j = 0;
      for (; j < RING; j++) {
        const q = (t + j) | 0;
        const slot = LAPS + (q & MASK);
        const x = Atomics.load(v, slot);
        const c = this.#lapFor(q, x);
        if (c === KEEP) break;
        if (c === BURN) continue;
        if (c === FULL) return undefined;
        if (c === HELP) {
          const off = (x - q) & MASK;
          this.#settledEarlier(slot, x, q, off, lapAfter(x, q, off));
        } else if (j === 0) {
          Atomics.compareExchange(v, NEXT, t, (t + 1) | 0); // STALE: t is burned, its burner not done
        }
        continue outer;
      }
      if (j === RING) return undefined;
      // Burn t .. t + j - 1, then take t + j: each decided from its slot's value as it is now.
      for (let q = t; ; q = (q + 1) | 0) {
        const slot = LAPS + (q & MASK);
        const x = Atomics.load(v, slot);
        const c = this.#lapFor(q, x);
        if (c === KEEP) {
          if (Atomics.compareExchange(v, NEXT, q, (q + 1) | 0) !== q) continue outer;
          Atomics.store(v, NEED + (q & MASK), n);
          return q;
        }
        if (c !== BURN) continue outer;
        const off = (x - q) & MASK;
        const burned = lapAfter(x, q, off) === -RING ? (x + RING + 3) | 0 : (q + 3) | 0;
        if (Atomics.compareExchange(v, slot, x, burned) !== x) continue outer;
        if (Atomics.compareExchange(v, NEXT, q, (q + 1) | 0) !== q && Atomics.load(v, NEXT) !== ((q + 1) | 0)) {
          continue outer;
        }
      }
    }
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
    if (Atomics.compareExchange(v, NEXT, s, (s + 1) | 0) !== s) return false;
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
    const watch: HeadWatch = { head: 0, seq: 0, since: -1 };
    const taker: Taker = {
      attempt: () => {
        // Tickets taken in this call that SERVING was already past. SERVING moves only through issued
        // tickets, and passes one only after it stood still GATE_STALL_MS at the head, so even one is
        // a thread paused a second between two loads; several in a row is damaged memory (a SERVING
        // far ahead of NEXT made every new ticket look passed over, and this loop never ended).
        let passedFresh = 0;
        let fresh = false;
        for (;;) {
          if (ticket === undefined) {
            const t = this.#takeTicket(n);
            if (t === undefined) {
              this.#watchHead(watch);
              return undefined;
            }
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
              // this thread was stalled, or it was burned (invariant 5: a newcomer that read the
              // line a moment earlier recorded it so, and the head passed it). Line up again, or
              // we would wait for a turn long gone.
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
            taker.requeued = true; // passed over as dead (invariant 3), or burned (5): line up again
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
        // Passed over already (invariant 3): nothing to give up, and its slot may belong
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
    // Behind this thread's own waiters for room, a newcomer must not take a ticket before them.
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
