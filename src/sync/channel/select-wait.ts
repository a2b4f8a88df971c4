/**
 * How a `select` (select.ts) waits on several channels at once: it registers on the wait words of
 * its cases (protocol: memory/wait/word.ts), then sleeps until one of them changes through the wait
 * module's sleep on several words: async, one park per word raced in one sleep; sync, spinning over
 * all of them and then blocking on one word at a time.
 */
import { now } from '../../memory/clock.js';
import { WORKER_SPIN } from '../../memory/spin.js';
import { register, sleepAnySync, sleepAsync, unregister, type WaitWord } from '../../memory/wait/index.js';
import { type Committed, offer, type Prepared, type SelectResult, tryAll, tryOne } from './select-cases.js';

/** Longest single async wait before every case is tried again (a backstop; wake-ups are exact). */
export const ASYNC_SLICE_MS = 1000;
export { SYNC_SLICE_MS } from '../../memory/wait/index.js';

/** The two words a case may wait on: [data-or-room, lock]. */
function words(p: Prepared, i: number): [WaitWord, WaitWord] {
  const core = p.cores[i];
  return p.encs[i] ? [core.room, core.plw] : [core.data, core.clw];
}

/** Registers on word `bit` of case `i` (0: data or room, 1: its lock word) and snapshots it. */
function registerOn(p: Prepared, i: number, bit: 0 | 1): void {
  p.seen[2 * i + bit] = register(words(p, i)[bit]);
  p.reg[i] |= 1 << bit;
}

/**
 * One waiting round (word.ts invariant 1: register, snapshot, then try). It registers on every
 * case's data word (DATA for a receive, ROOM for a send) and tries all cases. A failed try never
 * rings its own case's data word, but it does ring the lock word it took and released, so this
 * select registers on a case's lock word only when that case found the lock busy, and then tries
 * that case once more. Returns a result, or undefined after which the caller sleeps on the
 * registered words; either way it then calls {@link unregister}.
 */
export function prepareWait(p: Prepared): SelectResult | Committed | undefined {
  for (const i of p.order) registerOn(p, i, 0);
  const r = tryAll(p, true);
  if (r) return r;
  for (const i of p.order) {
    if (p.pick[i] !== 1) continue;
    registerOn(p, i, 1);
    const again = tryOne(p, i, true);
    if (again) return again;
  }
  // Its publish rings only DATA (and PLOCK's word), on which this select is not registered for
  // this channel (offerable: no receive case on it); a receiver taking it rings ROOM.
  offer(p);
  return undefined;
}

/**
 * Hands the registrations over to a sleep, which takes them back however it ends. `prefer` names
 * the case whose word a sync sleep blocks on.
 */
function handOver(p: Prepared, prefer: number): { ws: WaitWord[]; seens: number[]; at: number } {
  const ws: WaitWord[] = [];
  const seens: number[] = [];
  let at = 0;
  for (const i of p.order) {
    const [a, b] = words(p, i);
    if (i === prefer) at = ws.length + (p.pick[i] === 1 && p.reg[i] === 3 ? 1 : 0);
    if (p.reg[i] & 1) {
      ws.push(a);
      seens.push(p.seen[2 * i]);
    }
    if (p.reg[i] & 2) {
      ws.push(b);
      seens.push(p.seen[2 * i + 1]);
    }
    p.reg[i] = 0;
  }
  return { ws, seens, at };
}

/** Takes back the registrations still held (a round that found a result or threw). */
export function unregisterAll(p: Prepared): void {
  for (const i of p.order) {
    const [a, b] = words(p, i);
    if (p.reg[i] & 1) unregister(a);
    if (p.reg[i] & 2) unregister(b);
    p.reg[i] = 0;
  }
}

/**
 * Async, registered and snapshotted: sleeps until a word changes, the slice ({@link ASYNC_SLICE_MS})
 * or the deadline ends, or the signal fires (the caller then sees it).
 */
export async function waitAny(p: Prepared, deadline: number, signal: AbortSignal | undefined): Promise<void> {
  const { ws, seens } = handOver(p, -1);
  const slice = Math.max(0, Math.min(deadline - now(), ASYNC_SLICE_MS));
  await sleepAsync(ws, seens, slice, signal);
}

/**
 * Sync, registered and snapshotted: on the first turn spins watching every word, then blocks on one
 * case's word (in turn) for at most SYNC_SLICE_MS, or until the deadline when there is only that
 * word. Later turns do not spin again: a spin per 1 ms slice kept an idle selectSync at ~10% of a core.
 */
export function waitOneSync(p: Prepared, deadline: number, turn: number): void {
  const { ws, seens, at } = handOver(p, p.order[turn % p.order.length]);
  sleepAnySync(ws, seens, Math.max(0, deadline - now()), at, turn === 0 ? WORKER_SPIN : 0);
}
