/**
 * How results come back to the main thread.
 * Internal to the pool (not exported from the package root).
 */
import { fastNow as now } from '../../memory/clock.js';
import { register, seqOf, sleepAsync, unregister } from '../../memory/wait/index.js';
import { mainWord } from '../shared/index.js';

/** What the loop drains (settlement.ts). */
export interface ResultSource {
  readonly ctl: Int32Array;
  /** Settles every published result; returns how many. */
  drain(): number;
  /** Whether nothing is queued or out. */
  isIdle(): boolean;
}

/** Starts the result loop; it runs while any task is out or queued, then calls `ended`. */
export function runResultLoop(src: ResultSource, ended: () => void): void {
  void resultLoop(src, ended);
}

/**
 * Sleeps on the main wait word while tasks are out or queued, draining every result ring per
 * wake-up. Its sleeps hold a ref'd handle (memory/wait/sleep.ts) and between them it is never idle
 * (a microtask or a setImmediate away), so pending tasks keep the process alive and a pool with
 * nothing pending keeps nothing alive.
 */
async function resultLoop(src: ResultSource, ended: () => void): Promise<void> {
  const moved = mainWord(src.ctl);
  const words = [moved];
  const seens = [0];
  let lastYield = now();
  try {
    while (!src.isIdle()) {
      // MAIN_SEQ's writers always bump it (notifyAll), so the SEQ read before the drain is the one
      // to park on: registered afterwards, a publish since shows as a moved SEQ. (Registering
      // before the drain would make every worker's announce a notify while this loop is awake.)
      const seen = seqOf(moved);
      if (src.drain() > 0) {
        // Let the settled promises' reactions run (they often submit more), and now and then
        // the rest of the event loop, before the next drain.
        if (now() - lastYield > 10) {
          await new Promise((r) => setImmediate(r));
          lastYield = now();
        } else {
          await null;
        }
        continue;
      }
      if (register(moved) !== seen) {
        unregister(moved);
        continue;
      }
      seens[0] = seen;
      await sleepAsync(words, seens, 1000);
      lastYield = now();
    }
  } finally {
    ended();
  }
}
