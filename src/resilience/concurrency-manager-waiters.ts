/**
 * The waiter table of `ConcurrencyManager`: its waiter slots and one doubly linked FIFO list per
 * priority (the memory is described in concurrency-manager-layout.ts). Like the lease table, every
 * method runs with the manager's lock held, except the few reads a waiter makes of its own slot
 * ({@link WaiterTable.settled}), whose fields are written with Atomics.
 *
 * Best waiter: the head of each priority's list is its oldest, so only the ten heads compete. Its
 * effective priority is its own, or with `fair` its own plus one per `aging` ms waited (at most 10);
 * the highest wins and a tie goes to the older ticket. A head whose deadline has passed is removed
 * on the way (its owner finds its slot gone, rejects with TimeoutError and counts it): the grant
 * does not go to a waiter that is leaving, or dead.
 */
import { notifyAll, type WaitWord, WORD_SLOTS, wordAt } from '../memory/wait/index.js';
import {
  FREE,
  GRANTED,
  HEAD,
  type ManagerLayout,
  QUEUED,
  REJECTED,
  TAIL,
  TICKET,
  WAITING,
  WTOP,
} from './concurrency-manager-layout.js';

export class WaiterTable {
  readonly #v: Int32Array;
  readonly #d: Float64Array;
  readonly #L: ManagerLayout;
  readonly #fair: boolean;
  readonly #aging: number;

  constructor(v: Int32Array, d: Float64Array, layout: ManagerLayout, fair: boolean, aging: number) {
    this.#v = v;
    this.#d = d;
    this.#L = layout;
    this.#fair = fair;
    this.#aging = aging;
  }

  /** Waiter slot `w`'s wait word. */
  wordOf(w: number): WaitWord<'ConcurrencyManager.waiter'> {
    return wordAt(this.#v, this.#L.wword + WORD_SLOTS * w);
  }

  /** Whether waiter `w` (enqueued with generation `gen`) has news: granted, or removed. No lock needed. */
  settled(w: number, gen: number): boolean {
    const L = this.#L;
    return Atomics.load(this.#v, L.wstate + w) === GRANTED || Atomics.load(this.#v, L.wgen + w) !== gen;
  }

  /** The generation of waiter slot `w`: its owner keeps it to recognise its slot later. */
  gen(w: number): number {
    return this.#v[this.#L.wgen + w];
  }

  /** Puts a waiter at the tail of its priority's list: its slot, or -1 (counted) if the table is full. */
  enqueue(priority: number, lease: number, deadline: number, now: number): number {
    const v = this.#v;
    const d = this.#d;
    const L = this.#L;
    if (v[WTOP] === 0) {
      d[L.fh + REJECTED]++;
      return -1;
    }
    const w = v[L.wstack + --v[WTOP]];
    Atomics.store(v, L.wstate + w, WAITING);
    v[L.wprio + w] = priority;
    v[L.wticket + w] = v[TICKET];
    v[TICKET] = (v[TICKET] + 1) | 0;
    d[L.wenq + w] = now;
    d[L.wlease + w] = lease;
    d[L.wdeadline + w] = deadline;
    const tail = v[TAIL + priority - 1];
    v[L.wprev + w] = tail;
    v[L.wnext + w] = -1;
    if (tail >= 0) v[L.wnext + tail] = w;
    else v[HEAD + priority - 1] = w;
    v[TAIL + priority - 1] = w;
    v[QUEUED]++;
    return w;
  }

  /** Takes waiting `w` out of its list (it leaves, or is about to be granted). */
  dequeue(w: number): void {
    const v = this.#v;
    const L = this.#L;
    const p = v[L.wprio + w] - 1;
    const prev = v[L.wprev + w];
    const next = v[L.wnext + w];
    if (prev >= 0) v[L.wnext + prev] = next;
    else v[HEAD + p] = next;
    if (next >= 0) v[L.wprev + next] = prev;
    else v[TAIL + p] = prev;
    v[QUEUED]--;
  }

  /**
   * The waiter to serve next, or -1. Heads whose deadline passed are removed on the way, uncounted:
   * each owner counts its own timeout when it finds its slot gone (lease-table.ts, Counting).
   */
  best(now: number): number {
    const v = this.#v;
    const d = this.#d;
    const L = this.#L;
    let best = -1;
    let bestEff = 0;
    for (let p = 10; p >= 1; p--) {
      let h = v[HEAD + p - 1];
      while (h >= 0 && d[L.wdeadline + h] <= now) {
        this.dequeue(h);
        this.free(h);
        h = v[HEAD + p - 1];
      }
      if (h < 0) continue;
      if (!this.#fair) return h; // lists are scanned from priority 10 down: the first head wins
      const eff = Math.min(10, p + Math.floor((now - d[L.wenq + h]) / this.#aging));
      if (
        best < 0 ||
        eff > bestEff ||
        (eff === bestEff && ((v[L.wticket + h] - v[L.wticket + best]) | 0) < 0)
      ) {
        best = h;
        bestEff = eff;
      }
    }
    return best;
  }

  /** Hands permit slot `s` (now at generation `pgen`) to dequeued waiter `w`, and wakes exactly it. */
  grant(w: number, s: number, pgen: number): void {
    const v = this.#v;
    const L = this.#L;
    v[L.wpermit + w] = s;
    v[L.wpgen + w] = pgen;
    Atomics.store(v, L.wstate + w, GRANTED);
    notifyAll(this.wordOf(w));
  }

  /** Frees waiter slot `w` and bumps its generation, waking an owner that may still sleep on it. */
  free(w: number): void {
    const v = this.#v;
    const L = this.#L;
    Atomics.store(v, L.wstate + w, FREE);
    Atomics.store(v, L.wgen + w, (v[L.wgen + w] + 1) | 0);
    v[L.wstack + v[WTOP]++] = w;
    notifyAll(this.wordOf(w));
  }

  /** Wakes every waiter in the lists (each plans its sleep again). */
  wakeAll(): void {
    const v = this.#v;
    for (let p = 0; p < 10; p++) {
      for (let w = v[HEAD + p]; w >= 0; w = v[this.#L.wnext + w]) notifyAll(this.wordOf(w));
    }
  }
}
