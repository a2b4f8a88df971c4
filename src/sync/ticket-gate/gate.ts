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
import { InvalidArgumentError, TimeoutError } from '../../memory/errors.js';
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
const SLOTS = ABANDON + RING;

/** Allocates and initializes a gate's memory. */
export function createGate(permits: number): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(SLOTS * 4);
  const v = new Int32Array(sab);
  v[AVAILABLE] = permits;
  v[MAX] = permits;
  // A cleared slot i must never equal a ticket that maps to it (t % RING === i): i + RING/2 does not.
  for (let i = 0; i < RING; i++) v[ABANDON + i] = i + RING / 2;
  return sab;
}

export class TicketGate {
  readonly v: Int32Array;
  readonly #moved: WaitWord<'TicketGate.moved'>;
  /** This thread's async waiters on this gate. */
  readonly #sleeper: GateSleeper;

  /** Views a gate's memory; `kind` names the owner in the error for memory of the wrong size. */
  constructor(sab: SharedArrayBuffer, kind = 'TicketGate') {
    // A handle can arrive from anywhere: memory of another size is not a gate, and reading past its
    // end would throw RangeError deep inside a wait (or, if larger, silently misread the layout).
    if (sab.byteLength !== SLOTS * 4) {
      throw new InvalidArgumentError(
        `a ${kind} handle needs ${SLOTS * 4} bytes of memory, got ${sab.byteLength}`,
      );
    }
    this.v = new Int32Array(sab);
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
  if (typeof n !== 'number' || !Number.isInteger(n) || n < (allowZero ? 0 : 1) || n > 0x3fffffff) {
    throw new InvalidArgumentError(
      `${what} must be an integer ${allowZero ? '>= 0' : '>= 1'}, got ${String(n)}`,
    );
  }
  return n;
}
