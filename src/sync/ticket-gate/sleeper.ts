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
 * gate's other slots: each waiter brings its own `attempt` and `giveUp` (gate.ts).
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
  /** Set by attempt() when the waiter was passed over as dead and lined up again (gate.ts invariant 3). */
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
  // for room in the line, in arrival order. Served and given-up waiters are marked done and
  // dropped when they reach the front.
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
          // Passed over as dead while this thread was stalled: its new ticket is the latest.
          w.requeued = false;
          line.shift();
          if (!w.hasTicket()) {
            this.#forRoom.push(w); // no room in the line for its new ticket yet
            continue;
          }
          line.push(w);
          if (line.first() === w) break;
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
