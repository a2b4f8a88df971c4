/**
 * The WAITING slot of a rendezvous channel (byte-ring.ts invariant 9): receivers waiting in recv or
 * select count themselves there, in an epoch; a sender whose offer found no taker holds a census,
 * which uncounts a receiver terminated while it waited (its count would else stay for good).
 */
import { CENSUS_MIN_MS, ring } from '../../memory/wait/index.js';
import * as R from './byte-ring.js';
import type { ChannelCore } from './core.js';

const COUNT = R.WAITING_COUNT;

function sameEpoch(a: number, b: number): boolean {
  return (a ^ b) >>> 16 === 0;
}

/**
 * One waiting receive's count in WAITING (a recv, or one rendezvous receive case of a select): the
 * WAITING value it counted itself in, whose epoch is the one it may take the count back in.
 */
export class WaitingEntry {
  readonly #core: ChannelCore;
  /** The WAITING value its + 1 was made on (only its epoch matters), or undefined when not entered. */
  #at: number | undefined;
  /** False when the count was saturated: nothing to take back. */
  #counted = false;

  constructor(core: ChannelCore) {
    this.#core = core;
  }

  /** Counts this receive as waiting in the current epoch, and wakes senders waiting for one. */
  enter(): void {
    const c = this.#core.c;
    for (;;) {
      const x = Atomics.load(c, R.WAITING);
      if ((x & COUNT) === COUNT) {
        // saturated (as word.ts invariant 8): stays so until a census
        this.#at = x;
        this.#counted = false;
        break;
      }
      if (Atomics.compareExchange(c, R.WAITING, x, x + 1) === x) {
        this.#at = x;
        this.#counted = true;
        break;
      }
    }
    ring(this.#core.room);
  }

  /** Whether a census moved WAITING to another epoch since this receive counted itself. */
  moved(): boolean {
    return this.#at !== undefined && !sameEpoch(Atomics.load(this.#core.c, R.WAITING), this.#at);
  }

  /** Counts itself again when a census uncounted it (a waiting receive, after each wake-up). */
  recount(): void {
    if (this.moved()) this.enter();
  }

  /** Takes the count back, only in the epoch it was made in (a census may have taken it out). */
  leave(): void {
    const at = this.#at;
    const counted = this.#counted;
    this.#at = undefined;
    this.#counted = false;
    if (at === undefined || !counted) return;
    const c = this.#core.c;
    for (;;) {
      const x = Atomics.load(c, R.WAITING);
      if (!sameEpoch(x, at) || (x & COUNT) === COUNT || (x & COUNT) === 0) return;
      if (Atomics.compareExchange(c, R.WAITING, x, x - 1) === x) return;
    }
  }
}

/** Receivers counted as waiting now (a hint). */
export function waitingNow(c: Int32Array): number {
  return R.waitingCount(Atomics.load(c, R.WAITING));
}

/** When this thread last held a census of a channel's WAITING (per channel memory). */
const lastCensus = new WeakMap<Int32Array, number>();

/**
 * A sender whose offer to WAITING > 0 found no taker: moves WAITING to a new epoch with a count of
 * 0 and wakes every receiver, so that live ones count themselves again and dead ones stay out (at
 * most one census of a channel per thread per CENSUS_MIN_MS: invariant 9).
 */
export function censusWaiting(core: ChannelCore): void {
  const c = core.c;
  if (waitingNow(c) === 0) return; // nobody counted: nothing to repair
  const t = performance.now();
  if (t - (lastCensus.get(c) ?? Number.NEGATIVE_INFINITY) < CENSUS_MIN_MS) return;
  lastCensus.set(c, t);
  for (;;) {
    const x = Atomics.load(c, R.WAITING);
    if ((x & COUNT) === 0) return; // nobody counted: nothing to repair
    if (Atomics.compareExchange(c, R.WAITING, x, ((x >>> 16) + 1) << 16) === x) break;
  }
  // Receivers wait on DATA, or on CLOCK's word when it was busy; their ready() tests the epoch.
  ring(core.data);
  ring(core.clw);
}
