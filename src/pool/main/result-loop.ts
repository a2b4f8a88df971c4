/**
 * How results come back to the main thread.
 * Internal to the pool (not exported from the package root).
 */
import { fastNow as now } from '../../memory/clock.js';
import { holdLoop, releaseLoop } from '../../memory/wait.js';
import { MAIN_SEQ } from '../shared/index.js';

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
  holdLoop();
  void resultLoop(src, ended);
}

/**
 * Sleeps in `Atomics.waitAsync` on MAIN_SEQ while tasks are out or queued, draining every result ring per
 * wake-up. While it runs it holds a ref'd handle (memory/wait.ts), so pending tasks keep the
 * process alive and a pool with nothing pending keeps nothing alive.
 */
async function resultLoop(src: ResultSource, ended: () => void): Promise<void> {
  const ctl = src.ctl;
  let lastYield = now();
  try {
    while (!src.isIdle()) {
      const seen = Atomics.load(ctl, MAIN_SEQ);
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
      Atomics.add(ctl, MAIN_SEQ + 1, 1);
      try {
        if (Atomics.load(ctl, MAIN_SEQ) === seen) {
          const w = Atomics.waitAsync(ctl, MAIN_SEQ, seen, 1000);
          if (w.async) await w.value;
        }
      } finally {
        Atomics.sub(ctl, MAIN_SEQ + 1, 1);
      }
      lastYield = now();
    }
  } finally {
    ended();
    releaseLoop();
  }
}
