/**
 * The main thread's side of the progress protocol (chain.ts P1-P6) for one pool segment: a
 * generation per submitted try (P1), the verdict on a try that settled without its runner's (P4),
 * taking back the counts of an item that reruns after its batch died (P5), holding a ticket
 * while a runner given up inside a stage may still run it (P6), and giving back a gate's permit
 * that a runner took with it when its worker died inside the stage (P7). Ticket numbers here are indexes into
 * the stats buffer's progress words (the segment's ticketBase already added).
 */
import {
  DONE,
  FAILED,
  FAILED_MARK,
  GEN_MASK,
  genOf,
  INFLIGHT,
  markedFailed,
  markedLeft,
  ownerAt,
  progressAt,
  STAGE_WORDS,
  STATE_SPAN,
  stateOf,
} from './chain.js';

/** How often a held ticket (P6) looks again whether its runner left. */
const HOLD_POLL_MS = 5;

export class ProgressWords {
  readonly #w: Int32Array;
  readonly #p0: number;
  readonly #o0: number;
  /** The segment's end (one past its last stage). */
  readonly #end: number;
  /** Whether the pool worker with this id is alive (P6: a held ticket's runner died with it otherwise). */
  readonly #alive: (workerId: number) => boolean;
  /** P7: a runner died inside stage j without leaving it: give back what it held for j (a gate's permit). */
  readonly #lost: (stage: number) => void;
  /** Tickets held until a runner the main thread gave up on has left its stage (P6). */
  readonly #held = new Map<number, Promise<void>>();
  /** Generation of the last try begun (P1). */
  #gen = 0;

  constructor(
    words: Int32Array,
    stages: number,
    end: number,
    alive: (workerId: number) => boolean,
    lost: (stage: number) => void = () => {},
  ) {
    this.#w = words;
    this.#p0 = progressAt(stages);
    this.#o0 = ownerAt(stages, words.length);
    this.#end = end;
    this.#alive = alive;
    this.#lost = lost;
  }

  /** P1: a new generation for ticket t's try, its word written at stage `from`; returns it. */
  begin(t: number, from: number): number {
    const g = (this.#gen = (this.#gen % GEN_MASK) + 1); // never 0: a word of 0 means "no task"
    Atomics.store(this.#w, this.#p0 + t, g * STATE_SPAN + 2 * from);
    return g;
  }

  /** The try on ticket t is over here: its word reads "no task", unless a hold still watches it (P6). */
  end(t: number): void {
    if (!this.#held.has(t)) Atomics.store(this.#w, this.#p0 + t, 0);
  }

  /** Settles once ticket t may be given out again (P6); undefined if it may now. */
  held(t: number): Promise<void> | undefined {
    return this.#held.get(t);
  }

  /** Whether ticket t's try (generation g) is inside a stage now (P2: its state is odd). */
  running(t: number, g: number): boolean {
    const v = Atomics.load(this.#w, this.#p0 + t);
    return genOf(v) === g && stateOf(v) % 2 === 1;
  }

  /**
   * P4: the try settled without the runner's verdict; returns the stage it was at. The word is left
   * marked, (gen, 2j | FAILED_MARK), by CAS from whatever it was, so a runner still going (an abort
   * settles the task at once, while the worker runs on) can neither enter stage j (P2) nor leave it
   * (P3): it counts nothing more, and this thread counts the failure and, if the word was odd, takes
   * INFLIGHT[j] back and holds the ticket (P6). A word the runner changed meanwhile is read again.
   */
  takeOver(t: number, g: number, from: number): number {
    const w = this.#w;
    const word = this.#p0 + t;
    for (;;) {
      const v = Atomics.load(w, word);
      if (genOf(v) !== g) return from;
      const state = stateOf(v);
      const j = Math.min(state >> 1, this.#end - 1);
      if (markedFailed(v)) return j; // P5: failed at j and counted by the runner
      if (Atomics.compareExchange(w, word, v, g * STATE_SPAN + 2 * j + FAILED_MARK) !== v) continue;
      if (state % 2 === 1) {
        Atomics.sub(w, j * STAGE_WORDS + INFLIGHT, 1);
        this.#hold(t, g, j);
      }
      // Past the last stage (2 * end): the runner counted DONE there, but the try's result never came
      // back; it is judged a failure of that stage, so that count is taken back.
      if (state === 2 * this.#end) Atomics.sub(w, j * STAGE_WORDS + DONE, 1);
      Atomics.add(w, j * STAGE_WORDS + FAILED, 1);
      return j;
    }
  }

  /**
   * An item that runs again alone after its batch died had what it did there counted by the dead
   * worker, and it counts again when it reruns: take the first counts back, so DONE and FAILED stay
   * one per try whose outcome reached this thread. Its word says how far it got: state 2j after
   * stages [from, j) succeeded, with P5's mark if stage j then failed. (Run-time histograms keep the
   * dead runs' samples.) The word is replaced by CAS, so a runner still going (a pool timeout leaves
   * the worker running until its grace ends) fails its next P2 or P3 CAS and counts nothing more. An
   * odd word means that runner entered stage j after the batch was judged: INFLIGHT[j] is ours to
   * take back, and the word is marked as P4 marks it, so the runner says when it has left, and the
   * ticket is held until then (P6), or the rerun would run beside it.
   */
  uncount(t: number, g: number, from: number): void {
    const w = this.#w;
    const word = this.#p0 + t;
    for (;;) {
      const v = Atomics.load(w, word);
      if (genOf(v) !== g) return;
      const state = stateOf(v);
      const inside = state % 2 === 1;
      const j = Math.min(state >> 1, this.#end);
      if (Atomics.compareExchange(w, word, v, inside ? g * STATE_SPAN + 2 * j + FAILED_MARK : 0) !== v) continue;
      if (inside) {
        Atomics.sub(w, j * STAGE_WORDS + INFLIGHT, 1);
        this.#hold(t, g, j);
      }
      for (let s = from; s < j; s++) Atomics.sub(w, s * STAGE_WORDS + DONE, 1);
      if (markedFailed(v) && j < this.#end) Atomics.sub(w, j * STAGE_WORDS + FAILED, 1);
      return;
    }
  }

  /**
   * P6: keeps ticket t until its runner, taken over inside stage j (P4), has left it (the mark) or
   * its worker is gone; then frees the word. P7: gone without leaving, the runner never gave back
   * what it held for stage j, so this thread does (the word is read again after the death is seen).
   */
  #hold(t: number, g: number, j: number): void {
    if (this.#held.has(t)) return;
    const w = this.#w;
    const word = this.#p0 + t;
    const owner = Atomics.load(w, this.#o0 + t) - 1;
    const left = (): boolean => {
      const v = Atomics.load(w, word);
      return genOf(v) !== g || markedLeft(v);
    };
    const gone = (): boolean => left() || !this.#alive(owner);
    // Its worker already gone (a crash): nothing to wait for, and the caller clears the word. (A hold
    // that ended before it was recorded left the ticket marked held for good.)
    if (gone()) {
      if (!left()) this.#lost(j);
      return;
    }
    const held = (async () => {
      // A timer, not a park: someone may await this (a retry), and a park holds no event loop open.
      do await new Promise((r) => setTimeout(r, HOLD_POLL_MS));
      while (!gone());
      if (!left()) this.#lost(j);
      this.#held.delete(t);
      if (genOf(Atomics.load(w, word)) === g) Atomics.store(w, word, 0);
    })();
    this.#held.set(t, held);
  }
}
