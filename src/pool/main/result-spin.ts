/**
 * The main thread's short spin for results, right after it hands out tasks.
 *
 * Why spin at all: a round trip that sleeps on both sides costs two thread wake-ups, and on a
 * virtual machine waking an idle vCPU is slow (a bare `postMessage` or `Atomics.notify` ping-pong
 * measured 60-70 µs p50 on this project's 2-vCPU Firecracker VM, 4-7 µs with both threads pinned to
 * one vCPU). A main thread that spins while a worker that is still awake answers turns that into
 * 2-3 µs, and the worker, which spins a while after its last result, is then awake for the next task.
 *
 * Why not always: a spin that finds nothing is main-thread time lost, and a spin on the vCPU the
 * worker shares delays the very worker it waits for. So `'auto'` (the default) spins only when it
 * can pay off, and backs off when it does not:
 * - only if some worker was awake (spinning or busy) when the tasks were published: waking a
 *   sleeping one costs more than the budget here;
 * - only if every task out is already in a worker (no queue, at most one per worker slot): with a
 *   backlog the workers are busy and results come back in batches anyway;
 * - for at most {@link AUTO_SPIN_MICROS}, and never on a single CPU (`SPIN_PAYS`, memory/spin.ts);
 * - after a spin that found nothing it skips the next 1, 2, 4, 8, then 16 chances; one that finds
 *   a result resets that. Long tasks thus cost at most one 20 µs spin per 17 flushes.
 * Internal to the pool (not exported from the package root).
 */
import { fastNow as now } from '../../memory/clock.js';

/** What the spin reads after a flush (dispatch.ts gives it). */
export interface SpinState {
  /** Tasks wait in the queue, or more are out than workers run at once. */
  backlog(): boolean;
  /** Some worker was awake (spinning or busy) at the last publish. */
  workerAwake(): boolean;
  /** Settles every published result; returns how many. */
  drain(): number;
}

/** Spin budget of `spinMicros: 'auto'`: ~5x a round trip to an awake worker here. */
export const AUTO_SPIN_MICROS = 20;
/** Most flushes skipped after spins that found nothing. */
const MAX_SKIP = 16;

export class ResultSpin {
  #skip = 0;
  #backoff = 0;
  /** Spins done, and how many of them found results (`metrics().mainSpins`). */
  tries = 0;
  hits = 0;

  /** `micros` 0 never spins; `auto` adds the conditions and back-off above. */
  constructor(
    readonly micros: number,
    readonly auto: boolean,
  ) {}

  /** Called after each flush of submitted tasks. */
  afterFlush(state: SpinState): void {
    if (this.micros <= 0) return;
    if (this.auto) {
      if (state.backlog() || !state.workerAwake()) return;
      if (this.#skip > 0) {
        this.#skip--;
        return;
      }
    }
    const hit = spinForResults(state, this.micros);
    this.tries++;
    if (hit) this.hits++;
    if (!this.auto) return;
    if (hit) this.#backoff = 0;
    else this.#skip = this.#backoff = Math.min(MAX_SKIP, this.#backoff * 2 || 1);
  }
}

/** Polls per microsecond of budget at most: a bound that holds even if the clock stands still. */
const MAX_POLLS_PER_MICRO = 100;

/**
 * Spins up to `micros` until some result ring holds results, then drains them; true if it did.
 * It polls the rings themselves, not MAIN_SEQ: a fast worker may publish before the spin starts,
 * and announces (bumps MAIN_SEQ) only when it runs out of work. The poll count is capped too, so a
 * clock that does not move (fake timers in a caller's tests) cannot hold the event loop.
 */
function spinForResults(state: SpinState, micros: number): boolean {
  const until = now() + micros / 1000;
  for (let polls = micros * MAX_POLLS_PER_MICRO; polls > 0; polls--) {
    if (state.drain() > 0) return true;
    if (now() >= until) break;
  }
  return false;
}
