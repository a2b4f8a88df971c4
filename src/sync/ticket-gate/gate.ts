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
 *   8.. ABANDON  ring of RING slots: ABANDON[t % RING] === t marks ticket t as given up
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
 * Waiting: a blocking waiter (`takeSync`) sleeps on MOVED itself (memory/wait/until.ts). The async
 * waiters of one thread share one sleep on MOVED (sleeper.ts), which serves them in ticket order.
 */
import { deadlineFor, now } from '../../memory/clock.js';
import { TimeoutError } from '../../memory/errors.js';
import { integer } from '../../memory/validate.js';
import {
  abortError,
  blockUntil,
  limitsOf,
  notifyAll,
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
const SLOTS = ABANDON + RING;

/** Bytes of a gate's memory (its body: the owner's tag block follows, memory/shared-tag.ts). */
export const GATE_BYTES = SLOTS * 4;

/** Initializes a new gate's (zeroed) memory. */
export function initGate(sab: SharedArrayBuffer, permits: number): void {
  const v = new Int32Array(sab, 0, SLOTS);
  v[AVAILABLE] = permits;
  v[MAX] = permits;
  // A cleared slot i must never equal a ticket that maps to it (t % RING === i): i + RING/2 does not.
  for (let i = 0; i < RING; i++) v[ABANDON + i] = i + RING / 2;
}

/** The permits a gate's memory says it was made with (its one fixed word), for the owner's body check. */
export function gateMax(sab: SharedArrayBuffer): number {
  return new Int32Array(sab, 0, SLOTS)[MAX];
}

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

  /** Advances SERVING past `t` (the caller is the head, holding ticket t) and past abandoned tickets. */
  #advance(t: number): void {
    const v = this.v;
    let s = (t + 1) | 0;
    for (;;) {
      Atomics.store(v, SERVING, s);
      const slot = ABANDON + (s & (RING - 1));
      if (Atomics.compareExchange(v, slot, s, (s + RING / 2) | 0) !== s) break;
      s = (s + 1) | 0;
    }
    notifyAll(this.#moved);
  }

  #abandon(t: number): void {
    const v = this.v;
    if (Atomics.load(v, SERVING) === t) {
      this.#advance(t);
      return;
    }
    const slot = ABANDON + (t & (RING - 1));
    Atomics.store(v, slot, t);
    if (Atomics.load(v, SERVING) === t && Atomics.compareExchange(v, slot, t, (t + RING / 2) | 0) === t) {
      this.#advance(t);
    }
  }

  /** Takes `n` permits only if no one is waiting and they are free now. */
  tryTake(n: number): boolean {
    const v = this.v;
    const s = Atomics.load(v, SERVING);
    if (Atomics.compareExchange(v, NEXT, s, (s + 1) | 0) !== s) return false;
    const ok = Atomics.load(v, AVAILABLE) >= n;
    if (ok) Atomics.sub(v, AVAILABLE, n);
    this.#advance(s);
    return ok;
  }

  /** Returns an attempt function for the wait helpers, and what to do if the wait is given up. */
  #taker(n: number): Taker {
    const v = this.v;
    let ticket: number | undefined;
    const attempt = (): true | undefined => {
      if (ticket === undefined) {
        const t = Atomics.load(v, NEXT);
        if (((t - Atomics.load(v, SERVING)) | 0) >= RING) return undefined;
        if (Atomics.compareExchange(v, NEXT, t, (t + 1) | 0) !== t) return attempt();
        ticket = t;
      }
      if (Atomics.load(v, SERVING) !== ticket || Atomics.load(v, AVAILABLE) < n) return undefined;
      Atomics.sub(v, AVAILABLE, n);
      const t = ticket;
      ticket = undefined;
      this.#advance(t);
      return true;
    };
    const giveUp = (): void => {
      if (ticket !== undefined) this.#abandon(ticket);
      ticket = undefined;
    };
    return { attempt, giveUp, hasTicket: () => ticket !== undefined };
  }

  takeSync(n: number, opts: WaitOptions | undefined, what: string): void {
    const { attempt, giveUp } = this.#taker(n);
    try {
      blockUntil(this.#moved, attempt, limitsOf(opts, what));
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
    return this.#sleeper.wait(t, deadline, timeoutError, signal);
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
