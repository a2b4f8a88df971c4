/**
 * The async waiters of one ticket gate in one thread, and the one sleep they share.
 *
 * Async waiters of one thread do not each sleep on the gate's wait word: every release and every
 * advance of the line bumps it, and waking N sleepers per hand-off made N queued acquires cost
 * O(N^2) (4000 `withPermit` calls on a Semaphore(8) took 1.4 s). Instead one pump per gate and
 * thread sleeps for all of them and tries only the first of its line: the ones behind it hold later
 * tickets, so they cannot be served before it. (Blocking waiters, `takeSync`, are one per thread and
 * sleep on the word themselves.)
 *
 * The pump is one waiter of the word (memory/wait/word.ts): it registers before it serves and
 * sleeps through the wait module's one async sleep, which holds the event loop meanwhile. A waiter
 * that gives up, or one with an earlier deadline, interrupts that sleep. Nothing here touches the
 * gate's other slots: each waiter brings its own `attempt`, `giveUp` and `hand` (gate.ts).
 *
 * The waiters are served in the order of their calls (gate.ts invariant 5): the line holds them in
 * ticket order, which is call order, and a first waiter passed over while this thread was stalled
 * takes over the place of the one behind it (#lineUpAgain). Before a newcomer takes its ticket,
 * the line is served once (serveNow), so that such a waiter has lined up again ahead of it.
 */
import { now } from '../../memory/clock.js';
import {
  abortError,
  type Interrupt,
  register,
  sleepAsync,
  unregister,
  type WaitWord,
  watchAbort,
} from '../../memory/wait/index.js';
import { Fifo } from '../../memory/fifo.js';

/** What a waiter brings from its gate: one try at its permits, and how to leave the line. */
export interface Taker {
  /** Takes a ticket if it has none and there is room, then the permits if it is its turn. */
  attempt: () => true | undefined;
  /** Gives up the ticket, if it holds one, leaving no hole in the line. */
  giveUp: () => void;
  hasTicket: () => boolean;
  /**
   * Takes ticket `t` (or none) in place of the one it holds, which it returns: how a thread's
   * waiters pass their tickets down their line (gate.ts invariant 5).
   */
  hand: (t: number | undefined) => number | undefined;
  /** Set by attempt() when, in that call, the waiter found its ticket passed over and took a new one (gate.ts invariant 3). */
  requeued: boolean;
}

/** An async waiter of this thread. */
interface AsyncWaiter extends Taker {
  deadline: number;
  timeoutError: () => Error;
  /** Resolves (no error) or rejects the waiter's promise; once. */
  settle: (err?: Error) => void;
  done: boolean;
}

export class GateSleeper {
  /** The gate's wait word. */
  readonly #moved: WaitWord<'TicketGate.moved'>;
  readonly #words: WaitWord[];
  // This thread's async waiters: those holding tickets, in ticket order, then those still waiting
  // for room in the line; both in call order (gate.ts invariant 5). Served and given-up waiters are
  // marked done and dropped when they reach the front.
  #inLine = new Fifo<AsyncWaiter>();
  #forRoom = new Fifo<AsyncWaiter>();
  #pumping = false;
  /** Wakes the sleeping pump (a waiter gave up, or one with an earlier deadline came). */
  readonly #kick: Interrupt = { wake: undefined };
  /** No waiter's deadline comes before this (it may be earlier than needed: then a spare wake-up). */
  #nextDeadline = Number.POSITIVE_INFINITY;
  /** Longest sleep: the first in line watches the gate's head for standing still. */
  #pollMs = Number.POSITIVE_INFINITY;

  constructor(moved: WaitWord<'TicketGate.moved'>) {
    this.#moved = moved;
    this.#words = [moved];
  }

  /** Whether waiters of this thread wait for room in the line: a newcomer must not pass them. */
  get waitingForRoom(): boolean {
    return this.#forRoom.length > 0;
  }

  /**
   * Serves this thread's waiters now, before a newcomer takes its ticket (gate.ts invariant 5): a
   * first waiter passed over while the thread was stalled lines up again first, so the newcomer's
   * ticket comes after every earlier waiter's. The pump, if it sleeps, registered before it last
   * served (word.ts invariant 1), so whatever this changes in the gate wakes it.
   */
  serveNow(): void {
    if (this.#inLine.length > 0) this.#serve();
  }

  /**
   * Waits, in this thread's line, until `taker` is served; rejects with `timeoutError()` past
   * `deadline`, or with AbortError when `signal` aborts. Either way the ticket is given up.
   */
  wait(
    taker: Taker,
    deadline: number,
    timeoutError: () => Error,
    signal: AbortSignal | undefined,
    pollMs: number,
  ): Promise<void> {
    this.#pollMs = pollMs;
    return new Promise<void>((resolve, reject) => {
      let unwatch: (() => void) | undefined;
      // The taker itself, not a copy: its attempt() sets `requeued` on the object it was made as,
      // and #serve must see that flag (a spread copy kept `requeued: false` for good).
      const w: AsyncWaiter = Object.assign(taker, {
        deadline,
        timeoutError,
        done: false,
        settle: (err?: Error) => {
          w.done = true;
          unwatch?.();
          if (err) reject(err);
          else resolve();
        },
      });
      if (signal) {
        unwatch = watchAbort(signal, () => {
          if (w.done) return;
          w.giveUp();
          w.settle(abortError(signal));
          this.#kick.wake?.();
        });
      }
      (taker.hasTicket() ? this.#inLine : this.#forRoom).push(w);
      if (deadline < this.#nextDeadline) {
        this.#nextDeadline = deadline;
        this.#kick.wake?.(); // the pump sleeps with a later timeout: make it re-arm
      }
      void this.#pump();
    });
  }

  /**
   * Sleeps on the word for all of this thread's async waiters and serves them in order, as one
   * waiter of the word: register, serve, sleep (word.ts invariant 1).
   */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    const seens = [0];
    try {
      for (;;) {
        const seen = register(this.#moved);
        try {
          this.#serve();
        } catch (err) {
          unregister(this.#moved);
          throw err;
        }
        if (this.#inLine.length === 0 && this.#forRoom.length === 0) {
          unregister(this.#moved);
          return;
        }
        const left = Math.min(this.#nextDeadline - now(), this.#pollMs);
        seens[0] = seen;
        await sleepAsync(
          this.#words,
          seens,
          left === Number.POSITIVE_INFINITY ? undefined : Math.max(0, left),
          undefined,
          this.#kick,
        );
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** Times out the waiters past their deadline, then serves, in order, those that can go now. */
  #serve(): void {
    if (this.#nextDeadline <= now()) this.#expire();
    const line = this.#inLine;
    while (line.length > 0) {
      const w = line.first()!;
      if (!w.done) {
        const ok = w.attempt();
        if (!ok && w.requeued) {
          this.#lineUpAgain();
          continue;
        }
        if (!ok) break; // not its turn (or too few permits): nor anyone's behind it
        w.settle();
      }
      line.shift();
    }
    const room = this.#forRoom;
    while (room.length > 0) {
      const w = room.first()!;
      if (!w.done) {
        const ok = w.attempt();
        if (!ok && !w.hasTicket()) break; // still no room in the line
        if (ok) w.settle();
        else line.push(w); // its ticket is later than every ticket already in `line`
      }
      room.shift();
    }
  }

  /**
   * The first waiter was passed over while this thread was stalled (gate.ts invariant 3) and took a
   * new ticket, the latest (or none: no room). Each waiter of the line takes the ticket of the one
   * behind it, and the last that new one, so the line stays in call order (gate.ts invariant 5). A
   * waiter left without a ticket goes before those already waiting for room, which came later.
   */
  #lineUpAgain(): void {
    const live: AsyncWaiter[] = [];
    for (const x of this.#inLine) if (!x.done) live.push(x);
    let t = live[0].hand(undefined);
    for (let i = live.length - 1; i >= 0; i--) t = live[i].hand(t);
    const room = [...this.#forRoom];
    this.#inLine.clear();
    this.#forRoom.clear();
    for (const x of live) (x.hasTicket() ? this.#inLine : this.#forRoom).push(x);
    for (const x of room) this.#forRoom.push(x);
  }

  #expire(): void {
    const t = now();
    let next = Number.POSITIVE_INFINITY;
    for (const list of [this.#inLine, this.#forRoom]) {
      for (const w of list) {
        if (w.done) continue;
        if (w.deadline <= t) {
          w.giveUp();
          w.settle(w.timeoutError());
        } else if (w.deadline < next) {
          next = w.deadline;
        }
      }
    }
    this.#nextDeadline = next;
  }
}
