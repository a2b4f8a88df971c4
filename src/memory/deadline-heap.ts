/**
 * A binary min-heap of items by `deadline`, each item knowing its own place (`heapAt`, -1 when not
 * in the heap), so that any item leaves in O(log n), not only the earliest. For waiters that time
 * out: the earliest deadline is `peek()`, those past it leave with `pop()`, and one that is served
 * or aborted first leaves with `remove()` (a heap that only dropped items at their deadline would
 * hold every served waiter until its timeout ran out).
 */
export interface Timed {
  deadline: number;
  /** The item's index in the heap, -1 when it is in none. Owned by the heap. */
  heapAt: number;
}

export class DeadlineHeap<T extends Timed> {
  readonly #a: T[] = [];

  get size(): number {
    return this.#a.length;
  }

  /** The item with the earliest deadline, undefined when empty. */
  peek(): T | undefined {
    return this.#a[0];
  }

  /** Earliest deadline; +Infinity when empty. */
  get next(): number {
    return this.#a.length > 0 ? this.#a[0].deadline : Number.POSITIVE_INFINITY;
  }

  push(x: T): void {
    x.heapAt = this.#a.length;
    this.#a.push(x);
    this.#up(x.heapAt);
  }

  /** Removes and returns the item with the earliest deadline (undefined when empty). */
  pop(): T | undefined {
    const top = this.#a[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  /** Takes `x` out of the heap; nothing if it is in none. */
  remove(x: T): void {
    const i = x.heapAt;
    const a = this.#a;
    if (i < 0 || a[i] !== x) return;
    x.heapAt = -1;
    const last = a.pop() as T;
    if (i === a.length) return;
    a[i] = last;
    last.heapAt = i;
    this.#up(i);
    this.#down(last.heapAt);
  }

  #up(i: number): void {
    const a = this.#a;
    const x = a[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p].deadline <= x.deadline) break;
      a[i] = a[p];
      a[i].heapAt = i;
      i = p;
    }
    a[i] = x;
    x.heapAt = i;
  }

  #down(i: number): void {
    const a = this.#a;
    const n = a.length;
    const x = a[i];
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && a[c + 1].deadline < a[c].deadline) c++;
      if (a[c].deadline >= x.deadline) break;
      a[i] = a[c];
      a[i].heapAt = i;
      i = c;
    }
    a[i] = x;
    x.heapAt = i;
  }
}
