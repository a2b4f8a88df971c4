/**
 * fanIn's ready sources, kept in the order its strategy takes them, so that a step costs O(1) (or
 * O(log n) for 'priority') whatever the number of sources: scanning every source per item made
 * merging 100k sources quadratic.
 */
import { Fifo } from '../../memory/fifo.js';

/** The ready sources of a merge, by source index. */
export interface ReadyQueue {
  /** Source `i` has an item ready. */
  add(i: number): void;
  /** The source whose item goes next, taken out; -1 when the strategy says to wait. */
  take(): number;
  /** Source `i` has ended (it was not ready). */
  finished(i: number): void;
  /** Every ready source, by index (for a strategy function, which picks among them). */
  list(): number[];
  /** Takes source `i` out (a strategy function picked it). */
  remove(i: number): void;
}

/** The queue for a built-in strategy, or for a function (`list` and `remove`). */
export function readyQueue(strategy: unknown, sources: number): ReadyQueue {
  if (strategy === 'arrival') return new ArrivalQueue();
  if (strategy === 'priority') return new PriorityQueue();
  if (strategy === 'round-robin') return new RoundRobinQueue(sources);
  return new PickQueue();
}

abstract class BaseQueue implements ReadyQueue {
  abstract add(i: number): void;
  take(): number {
    return -1;
  }
  finished(_i: number): void {}
  list(): number[] {
    return [];
  }
  remove(_i: number): void {}
}

/** Whichever source had an item first. */
class ArrivalQueue extends BaseQueue {
  readonly #q = new Fifo<number>();
  add(i: number): void {
    this.#q.push(i);
  }
  override take(): number {
    return this.#q.length > 0 ? this.#q.shift() : -1;
  }
}

/** The lowest-index ready source: a binary min-heap of indices. */
class PriorityQueue extends BaseQueue {
  readonly #h: number[] = [];
  add(i: number): void {
    const h = this.#h;
    let k = h.push(i) - 1;
    while (k > 0) {
      const up = (k - 1) >> 1;
      if (h[up] <= i) break;
      h[k] = h[up];
      k = up;
    }
    h[k] = i;
  }
  override take(): number {
    const h = this.#h;
    if (h.length === 0) return -1;
    const top = h[0];
    const last = h.pop() as number;
    if (h.length > 0) {
      let k = 0;
      for (;;) {
        let c = 2 * k + 1;
        if (c >= h.length) break;
        if (c + 1 < h.length && h[c + 1] < h[c]) c++;
        if (h[c] >= last) break;
        h[k] = h[c];
        k = c;
      }
      h[k] = last;
    }
    return top;
  }
}

/**
 * Each live source in turn: a ring of the sources not ended (ended ones are unlinked), and the
 * source whose turn it is. Its turn waits for its item, as round-robin promises.
 */
class RoundRobinQueue extends BaseQueue {
  readonly #next: Int32Array;
  readonly #prev: Int32Array;
  readonly #ready: Uint8Array;
  #turn = 0;
  constructor(n: number) {
    super();
    this.#next = Int32Array.from({ length: n }, (_, i) => (i + 1) % n);
    this.#prev = Int32Array.from({ length: n }, (_, i) => (i + n - 1) % n);
    this.#ready = new Uint8Array(n);
  }
  add(i: number): void {
    this.#ready[i] = 1;
  }
  override take(): number {
    const i = this.#turn;
    if (this.#ready[i] === 0) return -1;
    this.#ready[i] = 0;
    this.#turn = this.#next[i];
    return i;
  }
  override finished(i: number): void {
    const [next, prev] = [this.#next, this.#prev];
    next[prev[i]] = next[i];
    prev[next[i]] = prev[i];
    if (this.#turn === i) this.#turn = next[i];
  }
}

/** For a strategy function: the ready set, listed by index when it is to pick. */
class PickQueue extends BaseQueue {
  readonly #ready = new Set<number>();
  add(i: number): void {
    this.#ready.add(i);
  }
  override list(): number[] {
    return [...this.#ready].sort((a, b) => a - b);
  }
  override remove(i: number): void {
    this.#ready.delete(i);
  }
}
