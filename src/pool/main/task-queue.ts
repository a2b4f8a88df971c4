/**
 * The main thread's queue of tasks that wait for room in the shared rings.
 *
 * One FIFO deque per priority (1..10, higher first), each a growable ring of parallel arrays, so
 * push, shift and cancel are O(1) however long the queue grows (no `Array.shift`), and a queued task
 * costs a few array cells rather than an object. Cancellation leaves a tombstone that `peek` skips
 * (holding nothing of the task: its input and extras are let go at once).
 */
import type { TransferListItem } from 'node:worker_threads';
import type { SignalWatcher } from '../../memory/signal-watch.js';

export const MIN_PRIORITY = 1;
export const MAX_PRIORITY = 10;
export const DEFAULT_PRIORITY = 5;

/** Where a settled task's outcome goes: a batch collector, or a single task's `resolve`. */
export interface Collector {
  settle(index: number, ok: boolean, value: unknown): void;
}
/**
 * A single task keeps only its promise's `resolve` and fails through `resolve(Promise.reject(err))`,
 * which rejects it just the same: one closure per pending task instead of two, on the path where a
 * million tasks may wait at once.
 */
export type Target = ((value: unknown) => void) | Collector;
/** The index of a batch item (0 for a single task). */
export type Aux = number;

/** Per-task options that are rare; most tasks carry `undefined` here. */
export interface TaskExtras {
  signal?: AbortSignal;
  timeout?: number;
  transfer?: readonly TransferListItem[];
  /** Set for a task with a signal: where the task sits (queue seq or slot), so an abort can find it. */
  ticket?: TaskTicket;
}

/** A task's watch on its signal (abort-watch.ts). */
export interface TaskTicket extends SignalWatcher {
  seq: number;
  slot: number;
}

class Deque {
  cap = 16;
  mask = 15;
  head = 0;
  tail = 0;
  input: unknown[] = new Array(16);
  target: (Target | undefined)[] = new Array(16);
  aux: Aux[] = new Array(16).fill(0);
  fn = new Int32Array(16);
  enq = new Float64Array(16);
  /**
   * The extras of the rare tasks with a signal, timeout or transfer list, parallel to the other
   * arrays; made when the first such task arrives, so a deque of plain tasks pays nothing for it.
   * (A Map by sequence number cost a hash insert and delete per task: 2x the submit time of a
   * batch sharing one signal.)
   */
  extras: (TaskExtras | undefined)[] | undefined = undefined;

  constructor(
    readonly priority: number,
    start = 0,
  ) {
    // Sequence numbers continue across a replaced deque, so a stale ticket never names a new task.
    this.head = start;
    this.tail = start;
  }

  #grow(): void {
    const cap = this.cap * 2;
    const mask = cap - 1;
    const re = <A extends { [i: number]: unknown }>(a: A, b: A): A => {
      for (let s = this.head; s !== this.tail; s++) b[s & mask] = a[s & this.mask];
      return b;
    };
    this.input = re(this.input, new Array(cap));
    this.target = re(this.target, new Array(cap));
    this.aux = re(this.aux, new Array(cap).fill(0));
    this.fn = re(this.fn, new Int32Array(cap));
    this.enq = re(this.enq, new Float64Array(cap));
    if (this.extras) this.extras = re(this.extras, new Array(cap));
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
    this.enq[i] = enq;
    if (extras) (this.extras ??= new Array(this.cap))[i] = extras;
    return s;
  }

  /** The extras of the head task. */
  headExtras(): TaskExtras | undefined {
    return this.extras?.[this.head & this.mask];
  }

  /** Drops the head (after its fields were read). */
  dropHead(): void {
    const i = this.head & this.mask;
    this.input[i] = undefined;
    this.target[i] = undefined;
    if (this.extras) this.extras[i] = undefined;
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
    if (d.head === d.tail && d.cap > 4096) this.#q[d.priority] = new Deque(d.priority, d.tail); // give back a burst's memory
  }

  /**
   * Tombstones a queued task and hands its target and aux to `each`; returns false (calling
   * nothing) if it already left the queue. The cell lets go of the task's input and extras now
   * (O(1)): a tombstone may wait deep in the queue, behind long tasks, until `peek` drops it, and
   * an aborted task's input (a large buffer, its transfer list) must not wait with it.
   */
  cancel(priority: number, seq: number, each: (target: Target, aux: Aux) => void): boolean {
    const d = this.#q[priority];
    if (seq < d.head || seq >= d.tail) return false;
    const i = seq & d.mask;
    const t = d.target[i];
    if (t === undefined) return false;
    this.#tombstone(d, i);
    each(t, d.aux[i]);
    return true;
  }

  /** Turns cell `i` of `d` into a tombstone: its task leaves the queue, its input and extras are let go. */
  #tombstone(d: Deque, i: number): void {
    d.target[i] = undefined;
    d.input[i] = undefined;
    if (d.extras) d.extras[i] = undefined;
    this.length--;
  }

  /**
   * Tombstones every queued task that settles into `target` (as {@link cancel} does one), handing
   * `each` its aux and extras. O(queue length): for a caller whose consumer left (a map ended early).
   */
  cancelTarget(target: Target, each: (aux: Aux, extras: TaskExtras | undefined) => void): void {
    for (let p = MAX_PRIORITY; p >= MIN_PRIORITY; p--) {
      const d = this.#q[p];
      for (let seq = d.head; seq < d.tail; seq++) {
        const i = seq & d.mask;
        if (d.target[i] !== target) continue;
        const extras = d.extras?.[i];
        this.#tombstone(d, i);
        each(d.aux[i], extras);
      }
    }
  }

  /** Removes every live task, calling `each` with its target, aux and extras. */
  clear(each: (target: Target, aux: Aux, extras: TaskExtras | undefined) => void): void {
    for (let p = MAX_PRIORITY; p >= MIN_PRIORITY; p--) {
      const d = this.#q[p];
      while (d.head !== d.tail) {
        const i = d.head & d.mask;
        const t = d.target[i];
        const a = d.aux[i];
        const x = d.headExtras();
        d.dropHead();
        if (t !== undefined) each(t, a, x);
      }
    }
    this.length = 0;
  }
}

export type { Deque };
