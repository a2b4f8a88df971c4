/**
 * The main thread's side of the shared slot table: for each task handed to the workers, where its
 * outcome goes and what is needed to resend it if its worker dies before starting it. A slot is
 * taken when a task leaves the queue and given back when the worker's final record for it is read,
 * so a slot number is never reused while any thread still refers to it.
 */
import type { Aux, Target, TaskExtras } from './task-queue.js';

export class SlotTable {
  readonly target: (Target | undefined)[];
  readonly aux: Aux[];
  /** The input as queued (a primitive, or an object's encoding), kept for a resend after a crash. */
  readonly input: unknown[];
  readonly fnId: Int32Array;
  readonly priority: Uint8Array;
  readonly extras: (TaskExtras | undefined)[];
  /** Run-time limit in ms (0: none). */
  readonly timeout: Float64Array;
  /** When the kill grace of a timed-out or aborted running task ends (0: none). */
  readonly killAt: Float64Array;
  /** 1 for a task posted to one worker (it cannot be resent elsewhere). */
  readonly direct: Uint8Array;
  /**
   * 1 when an abort cancelled the task after a worker had claimed it: its record has left the ring,
   * so only that worker's Skipped result frees the slot, and if it dies its exit must.
   */
  readonly cancelledAfterClaim: Uint8Array;
  /**
   * 1 when an abort cancelled the task while its record still waited in a ring: the record stays
   * there until a worker claims and skips it, but it is no task waiting, so the ring backlog
   * (getQueueLength, maxQueue, growth) leaves it out ({@link cancelledInRing} counts them).
   */
  readonly cancelledQueued: Uint8Array;
  /** Slots whose {@link cancelledQueued} is set. */
  cancelledInRing = 0;
  readonly #free: Int32Array;
  #nFree: number;
  /** Slots with a timeout now, so the sweep can skip its scan when there are none. */
  timed = 0;

  constructor(readonly size: number) {
    this.target = new Array(size);
    this.aux = new Array(size).fill(0);
    this.input = new Array(size);
    this.fnId = new Int32Array(size);
    this.priority = new Uint8Array(size);
    this.extras = new Array(size);
    this.timeout = new Float64Array(size);
    this.direct = new Uint8Array(size);
    this.cancelledAfterClaim = new Uint8Array(size);
    this.cancelledQueued = new Uint8Array(size);
    this.killAt = new Float64Array(size);
    this.#free = new Int32Array(size);
    for (let i = 0; i < size; i++) this.#free[i] = size - 1 - i;
    this.#nFree = size;
  }

  get inUse(): number {
    return this.size - this.#nFree;
  }

  get hasFree(): boolean {
    return this.#nFree > 0;
  }

  /** Takes a free slot (the caller checked {@link hasFree}). */
  alloc(): number {
    return this.#free[--this.#nFree];
  }

  /** Forgets the slot's task and returns the slot to the free list. */
  release(s: number): void {
    this.target[s] = undefined;
    this.aux[s] = 0;
    this.input[s] = undefined;
    this.extras[s] = undefined;
    if (this.timeout[s] > 0) this.timed--;
    this.timeout[s] = 0;
    this.direct[s] = 0;
    this.cancelledAfterClaim[s] = 0;
    if (this.cancelledQueued[s]) {
      this.cancelledQueued[s] = 0;
      this.cancelledInRing--;
    }
    this.killAt[s] = 0;
    this.#free[this.#nFree++] = s;
  }
}
