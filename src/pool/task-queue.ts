/**
 * The main thread's queue of tasks that wait for room in the shared rings.
 *
 * One FIFO deque per priority (1..10, higher first), each a growable ring of parallel arrays, so
 * push, shift and cancel are O(1) however long the queue grows (no `Array.shift`), and a queued task
 * costs a few array cells rather than an object. Cancellation leaves a tombstone that `shift` skips.
 */
import type { TransferListItem } from 'node:worker_threads';

export const MIN_PRIORITY = 1;
export const MAX_PRIORITY = 10;
export const DEFAULT_PRIORITY = 5;

/** Where a settled task's outcome goes: a resolver pair, or a collector for batches. */
export interface Collector {
  settle(index: number, ok: boolean, value: unknown): void;
}
export type Target = ((value: unknown) => void) | Collector;
/** The reject function of a single task, or the index of a batch item. */
export type Aux = ((err: unknown) => void) | number;

/** Per-task options that are rare; most tasks carry `undefined` here. */
export interface TaskExtras {
  signal?: AbortSignal;
  timeout?: number;
  transfer?: readonly TransferListItem[];
  /** Set while the task sits in a queue or slot, so an abort can find it. */
  ticket?: { seq: number; slot: number };
  onAbort?: () => void;
}

class Deque {
  constructor(readonly priority: number) {}
  cap = 16;
  mask = 15;
  head = 0;
  tail = 0;
  input: unknown[] = new Array(16);
  fn: number[] = new Array(16).fill(0);
  target: (Target | undefined)[] = new Array(16);
  aux: Aux[] = new Array(16);
  extras: (TaskExtras | undefined)[] = new Array(16);
  enq: number[] = new Array(16).fill(0);

  #grow(): void {
    const cap = this.cap * 2;
    const mask = cap - 1;
    const re = <T>(a: T[]): T[] => {
      const b = new Array<T>(cap);
      for (let s = this.head; s !== this.tail; s++) b[s & mask] = a[s & this.mask];
      return b;
    };
    this.input = re(this.input);
    this.fn = re(this.fn);
    this.target = re(this.target);
    this.aux = re(this.aux);
    this.extras = re(this.extras);
    this.enq = re(this.enq);
    this.cap = cap;
    this.mask = mask;
  }

  /** Appends; returns the task's sequence number (its handle for cancel). */
  push(
    input: unknown,
    fn: number,
    target: Target,
    aux: Aux,
    extras: TaskExtras | undefined,
    enq: number,
  ): number {
    if (this.tail - this.head === this.cap) this.#grow();
    const s = this.tail++;
    const i = s & this.mask;
    this.input[i] = input;
    this.fn[i] = fn;
    this.target[i] = target;
    this.aux[i] = aux;
    this.extras[i] = extras;
    this.enq[i] = enq;
    return s;
  }

  /** Drops the head (after its fields were read). */
  dropHead(): void {
    const i = this.head & this.mask;
    this.input[i] = undefined;
    this.target[i] = undefined;
    this.aux[i] = 0;
    this.extras[i] = undefined;
    this.head++;
  }
}

/**
 * Priority queue of waiting tasks. `length` counts live (not cancelled) tasks.
 */
export class TaskQueue {
  readonly #q: Deque[] = [];
  length = 0;

  constructor() {
    for (let p = 0; p <= MAX_PRIORITY; p++) this.#q.push(new Deque(p));
  }

  push(
    priority: number,
    input: unknown,
    fn: number,
    target: Target,
    aux: Aux,
    extras: TaskExtras | undefined,
    enq: number,
  ): number {
    this.length++;
    return this.#q[priority].push(input, fn, target, aux, extras, enq);
  }

  /** The non-empty deque of highest priority, with tombstones at its head skipped; undefined if none. */
  peek(): Deque | undefined {
    for (let p = MAX_PRIORITY; p >= MIN_PRIORITY; p--) {
      const d = this.#q[p];
      while (d.head !== d.tail && d.target[d.head & d.mask] === undefined) d.dropHead();
      if (d.head !== d.tail) return d;
    }
    return undefined;
  }

  /** Removes the head of `d` (from {@link peek}). */
  take(d: Deque): void {
    d.dropHead();
    this.length--;
  }

  /** Tombstones a queued task; returns false if it already left the queue. */
  cancel(priority: number, seq: number): boolean {
    const d = this.#q[priority];
    if (seq < d.head || seq >= d.tail) return false;
    const i = seq & d.mask;
    if (d.target[i] === undefined) return false;
    d.target[i] = undefined;
    this.length--;
    return true;
  }

  /** Removes every live task, calling `each` with its target and aux. */
  clear(each: (target: Target, aux: Aux) => void): void {
    for (let p = MAX_PRIORITY; p >= MIN_PRIORITY; p--) {
      const d = this.#q[p];
      while (d.head !== d.tail) {
        const i = d.head & d.mask;
        const t = d.target[i];
        const a = d.aux[i];
        d.dropHead();
        if (t !== undefined) each(t, a);
      }
    }
    this.length = 0;
  }
}

export type { Deque };
