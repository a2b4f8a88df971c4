/**
 * One sleep on one or more wait words (word.ts), sync or async: the only code that parks a waiter.
 * The caller has registered on each word (`seen` = what register() returned) and found nothing
 * ready; the sleep parks, then unregisters from every word, however it ends.
 *
 * The async sleep owns what an async wait needs besides the park: the ref'd handle (a pending
 * waitAsync keeps no process alive, so the loop is held while the caller awaits), the signal (one
 * listener per signal, see abort.ts, and a fresh small promise per sleep for it to settle: racing
 * every sleep against one long-lived promise kept a reaction per wake-up until the wait ended, 6 MB
 * for a waiter woken 20k times), an interrupt for the caller's own events, and the parks it leaves
 * behind when it ends early (word.ts invariant 5).
 */
import { type ParkOutcome, holdLoop, parkAsync, parkSync, releaseLoop } from './park.js';
import { watchAbort } from './abort.js';
import { cpuRelax } from '../spin.js';
import { unregister, type WaitWord } from './word.js';

/** How an async sleep ended: a park's outcome, the signal fired, or the caller's interrupt. */
export type SleepOutcome = ParkOutcome | 'aborted' | 'interrupted';

/** Lets the caller end an async sleep early: while the sleep runs, `wake` ends it with 'interrupted'. */
export interface Interrupt {
  wake: (() => void) | undefined;
}

/** Blocks on `w` while its SEQ is `seen`, for at most `ms` (undefined: no limit); then unregisters. */
export function sleepSync(w: WaitWord, seen: number, ms: number | undefined): ParkOutcome {
  try {
    return parkSync(w.view, w.at, seen, ms);
  } finally {
    unregister(w);
  }
}

/**
 * Sleeps without blocking until one of `words` moves past its `seens[i]`, `ms` pass, `signal`
 * aborts or `interrupt.wake()` is called; then unregisters from every word (parks still queued
 * count as lingering: word.ts invariant 5).
 */
export async function sleepAsync(
  words: readonly WaitWord[],
  seens: readonly number[],
  ms: number | undefined,
  signal?: AbortSignal,
  interrupt?: Interrupt,
): Promise<SleepOutcome> {
  const n = words.length;
  const parks: (Promise<ParkOutcome> | undefined)[] = new Array(n);
  const settled: boolean[] = new Array(n).fill(false);
  let unwatch: (() => void) | undefined;
  holdLoop();
  try {
    if (signal?.aborted) return 'aborted';
    return await new Promise<SleepOutcome>((resolve) => {
      let done = false;
      const finish = (o: SleepOutcome): void => {
        if (done) return;
        done = true;
        resolve(o);
      };
      for (let i = 0; i < n && !done; i++) {
        const r = parkAsync(words[i].view, words[i].at, seens[i], ms);
        if (!r.async) {
          settled[i] = true;
          finish(r.value);
          break;
        }
        parks[i] = r.value;
        void r.value.then((o) => {
          settled[i] = true;
          finish(o);
        });
      }
      if (done) return;
      if (signal) unwatch = watchAbort(signal, () => finish('aborted'));
      if (interrupt) interrupt.wake = () => finish('interrupted');
    });
  } finally {
    releaseLoop();
    unwatch?.();
    if (interrupt) interrupt.wake = undefined;
    for (let i = 0; i < n; i++) unregister(words[i], settled[i] ? undefined : parks[i]);
  }
}

/** Longest a sync sleep on several words blocks on one of them before it looks at the others. */
export const SYNC_SLICE_MS = 1;

/**
 * Blocking form of a sleep on several words (a thread can park on one address only): spins
 * watching every word, then parks on `words[prefer]` for at most {@link SYNC_SLICE_MS} (or `ms`
 * when it is the only word); then unregisters from every word. The caller looks again and sleeps
 * again, so a change on another word is seen at most a slice late.
 */
export function sleepAnySync(
  words: readonly WaitWord[],
  seens: readonly number[],
  ms: number | undefined,
  prefer: number,
  spins: number,
): void {
  try {
    for (let k = 0; k < spins; k++) {
      for (let i = 0; i < words.length; i++) if (Atomics.load(words[i].view, words[i].at) !== seens[i]) return;
      cpuRelax();
    }
    const w = words[prefer];
    const slice = words.length === 1 ? ms : Math.min(ms ?? SYNC_SLICE_MS, SYNC_SLICE_MS);
    parkSync(w.view, w.at, seens[prefer], slice);
  } finally {
    for (let i = 0; i < words.length; i++) unregister(words[i]);
  }
}

/**
 * Blocking sleep on several words through the bell (word.ts invariant 9): the caller registered on
 * `bell` (its SEQ then was `bellSeen`), then on each of `words` (`seens`) counting itself in their
 * BELLED, and found nothing ready. Looks at every word and the bell once, and spins so `spins` times
 * more, then parks on the bell for at most `ms` (undefined: no limit). The look before the park is
 * not optional: a census of a word between the caller's registration there and its BELLED + 1
 * uncounts it without ringing the bell (BELLED did not count it yet), and the census's bump of the
 * word's SEQ is then the only trace of it (invariant 9). Takes nothing back: the caller leaves the
 * words' BELLED, unregisters from the words, then from the bell.
 */
export function sleepBelledSync(
  bell: WaitWord,
  bellSeen: number,
  words: readonly WaitWord[],
  seens: readonly number[],
  ms: number | undefined,
  spins: number,
): void {
  for (let k = 0; ; k++) {
    if (Atomics.load(bell.view, bell.at) !== bellSeen) return;
    for (let i = 0; i < words.length; i++) if (Atomics.load(words[i].view, words[i].at) !== seens[i]) return;
    if (k >= spins) break;
    cpuRelax();
  }
  parkSync(bell.view, bell.at, bellSeen, ms);
}
