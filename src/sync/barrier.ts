import type { Reopen } from '../memory/shared-object.js';
import { integer, object } from '../memory/validate.js';
import {
  blockUntil,
  checkAborted,
  checkWaitOptions,
  limitsOf,
  notifyAll,
  type WaitOptions,
  waitUntil,
} from '../memory/wait/index.js';
import { defineWordKind, WordObjectBase } from '../memory/word-object.js';

// Layout (Int32):
//   0 STATE    generation << 16 | arrived (parties that arrived in this generation, < parties)
//   1..4 TRIPPED  the wait word (memory/wait/word.ts) waiters sleep on
//
// Invariants (cited as B1..B3):
//   B1. STATE changes only by compare-exchange. An arrival that makes `arrived` reach `parties`
//       writes (generation + 1) << 16 | 0 instead: it is that generation's leader, exactly one per
//       generation, and the barrier is ready for the next round in the same step (cyclic).
//   B2. A waiter passes once the generation differs from the one it arrived in; the leader
//       notifies TRIPPED after its CAS, so no waiter sleeps through its generation's end.
//   B3. A waiter that gives up (timeout, abort) withdraws its arrival by CAS (arrived - 1) only if
//       its generation is still current; if the generation moved, the barrier tripped with it
//       counted, and it passes instead of failing (the others were released counting on it).
const STATE = 0;
const TRIPPED = 1;
const MAX_PARTIES = 0xffff;
const GEN_MASK = 0x7fff;

interface BarrierConfig {
  parties: number;
}

const checkParties = (v: unknown): number => integer(v, 'parties', { min: 1, max: MAX_PARTIES });

const BARRIER = defineWordKind<BarrierConfig, Barrier>({
  name: 'Barrier',
  tag: 11,
  layout: 1,
  stateWords: TRIPPED,
  create: (parties) => ({ parties: checkParties(parties) }),
  checkConfig: (c) => ({ parties: checkParties(object<{ parties: unknown }>(c, 'config').parties) }),
  damage: (v, c) => {
    const arrived = v[STATE] & MAX_PARTIES;
    return arrived >= c.parties ? `${arrived} arrived of ${c.parties} parties` : undefined;
  },
  make: (r) => new Barrier(r),
});

/** What {@link Barrier.wait} resolves to. */
export interface BarrierResult {
  /** True for exactly one party per round: the one whose arrival completed it. */
  readonly leader: boolean;
}

const LEADER: BarrierResult = Object.freeze({ leader: true });
const FOLLOWER: BarrierResult = Object.freeze({ leader: false });

/**
 * A cyclic barrier in shared memory: `parties` threads each call `wait()`, and all of them go on
 * once the last one arrives; the last one is the round's leader. It then resets for the next round.
 *
 * @example
 * ```ts
 * const barrier = new Barrier(4);            // passed to 4 workers
 * for (let step = 0; step < steps; step++) {
 *   compute(step);
 *   if (barrier.waitSync().leader) swapBuffers();   // in each worker
 * }
 * ```
 */
export class Barrier extends WordObjectBase<BarrierConfig, 'Barrier.tripped'> {
  constructor(parties: number);
  /** @internal rebuilds over checked memory; use {@link Barrier.from}. */
  constructor(parties: number | Reopen<BarrierConfig>);
  constructor(parties: number | Reopen<BarrierConfig>) {
    super(BARRIER, parties);
  }

  /** The live Barrier for what arrived from another thread. */
  static from(received: unknown): Barrier {
    return BARRIER.open(received);
  }

  /** Parties a round waits for. */
  get parties(): number {
    return this.handle.config.parties;
  }

  /** Parties waiting in the current round. */
  get waiting(): number {
    return Atomics.load(this.v, STATE) & MAX_PARTIES;
  }

  /** Arrives (B1): the generation arrived in, or LEADER if this arrival completed the round. */
  #arrive(): number | BarrierResult {
    const v = this.v;
    for (;;) {
      const s = Atomics.load(v, STATE);
      const gen = s >>> 16;
      const arrived = (s & MAX_PARTIES) + 1;
      const next = arrived === this.parties ? ((gen + 1) & GEN_MASK) << 16 : s + 1;
      if (Atomics.compareExchange(v, STATE, s, next) !== s) continue;
      if (arrived < this.parties) return gen;
      notifyAll(this.word); // B2
      return LEADER;
    }
  }

  #passed(gen: number): () => BarrierResult | undefined {
    return () => (Atomics.load(this.v, STATE) >>> 16 !== gen ? FOLLOWER : undefined);
  }

  /** B3: withdraw an arrival of `gen`; false if the round already tripped with it. */
  #withdraw(gen: number): boolean {
    const v = this.v;
    for (;;) {
      const s = Atomics.load(v, STATE);
      if (s >>> 16 !== gen) return false;
      if (Atomics.compareExchange(v, STATE, s, s - 1) === s) return true;
    }
  }

  /**
   * Waits until all parties arrived; resolves to `{ leader }`. On TimeoutError or AbortError its
   * arrival is withdrawn (the round still waits for `parties`), unless the round tripped meanwhile.
   */
  async wait(opts?: WaitOptions): Promise<BarrierResult> {
    checkWaitOptions(opts, 'Barrier.wait options');
    checkAborted(opts); // an aborted call never arrives
    const lim = limitsOf(opts, 'Barrier.wait');
    const gen = this.#arrive();
    if (typeof gen !== 'number') return gen;
    try {
      return await waitUntil(this.word, this.#passed(gen), lim);
    } catch (err) {
      if (this.#withdraw(gen)) throw err;
      return FOLLOWER;
    }
  }

  /** Blocking form of {@link wait}, for worker threads. */
  waitSync(opts?: WaitOptions): BarrierResult {
    checkWaitOptions(opts, 'Barrier.waitSync options');
    checkAborted(opts);
    const lim = limitsOf(opts, 'Barrier.waitSync');
    const gen = this.#arrive();
    if (typeof gen !== 'number') return gen;
    try {
      return blockUntil(this.word, this.#passed(gen), lim);
    } catch (err) {
      if (this.#withdraw(gen)) throw err;
      return FOLLOWER;
    }
  }
}
