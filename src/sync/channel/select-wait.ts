/**
 * How a `select` (select.ts) waits on several channels at once: it registers on the wait words of
 * its cases (protocol: memory/wait-armed.ts), then sleeps until one of them changes, by racing one
 * `Atomics.waitAsync` per word (async) or by spinning over all of them and then blocking on one
 * word at a time (sync).
 */
import { now } from '../../memory/clock.js';
import { cpuRelax, WORKER_SPIN } from '../../memory/spin.js';
import { watchAbort } from '../../memory/wait.js';
import { arm, disarm } from '../../memory/wait-armed.js';
import * as R from './byte-ring.js';
import { type Committed, type Prepared, type SelectResult, tryAll, tryOne } from './select-cases.js';

/** Longest single async wait before every case is tried again (a backstop; wake-ups are exact). */
export const ASYNC_SLICE_MS = 1000;
/** Longest a sync select blocks on one channel's word while it waits on several. */
export const SYNC_SLICE_MS = 1;

/** The two words a case may wait on: [data-or-room, lock]. */
function words(p: Prepared, i: number): [number, number] {
  return p.encs[i] ? [R.ROOM, R.PLW] : [R.DATA, R.CLW];
}

/** Registers on word `w` of case `i` (`bit`: which of its two words) and snapshots it. */
function register(p: Prepared, i: number, bit: 0 | 1): void {
  const c = p.cores[i].c;
  const w = words(p, i)[bit];
  Atomics.add(c, w + 1, 1);
  p.reg[i] |= 1 << bit;
  p.seen[2 * i + bit] = arm(c, w);
}

/**
 * One waiting round (protocol in memory/wait-armed.ts: register, snapshot, then try). It registers on
 * every case's data word (DATA for a receive, ROOM for a send) and tries all cases. A failed try
 * never rings its own case's data word, but it does ring the lock word it took and released, so
 * this select registers on a case's lock word only when that case found the lock busy, and then
 * snapshots that word and tries the case once more. Returns a result, or undefined after which the
 * caller waits on the registered words; either way it then calls {@link unregister}.
 */
export function prepareWait(p: Prepared): SelectResult | Committed | undefined {
  for (const i of p.order) register(p, i, 0);
  const r = tryAll(p);
  if (r) return r;
  for (const i of p.order) {
    if (p.pick[i] !== 1) continue;
    register(p, i, 1);
    const again = tryOne(p, i);
    if (again) return again;
  }
  return undefined;
}

/** The registered (word, snapshot) pairs of case i. */
function registered(p: Prepared, i: number): [number, number][] {
  const [a, b] = words(p, i);
  const out: [number, number][] = [];
  if (p.reg[i] & 1) out.push([a, p.seen[2 * i]]);
  if (p.reg[i] & 2) out.push([b, p.seen[2 * i + 1]]);
  return out;
}

/**
 * Takes the registrations back. After an async wait it also settles this select's own leftover
 * waitAsyncs (V8 cannot cancel them) by a notify on each word that did not change, where no one
 * else is registered to be woken by it.
 */
export function unregister(p: Prepared, waitedAsync: boolean): void {
  for (const i of p.order) {
    const c = p.cores[i].c;
    for (const [w, seen] of registered(p, i)) disarm(c, w, seen, waitedAsync);
    p.reg[i] = 0;
  }
}

function changed(p: Prepared): boolean {
  for (const i of p.order) {
    for (const [w, seen] of registered(p, i)) if (Atomics.load(p.cores[i].c, w) !== seen) return true;
  }
  return false;
}

/**
 * Async, registered and snapshotted: races one waitAsync per word (with a ref'd timer that keeps
 * the loop alive and bounds the wait to {@link ASYNC_SLICE_MS}) and the signal; returns when a word
 * changes, the slice ends or the signal fires.
 */
export async function waitAny(p: Prepared, deadline: number, signal: AbortSignal | undefined): Promise<void> {
  const slice = Math.min(deadline - now(), ASYNC_SLICE_MS);
  if (slice <= 0) return;
  const racers: Promise<unknown>[] = [];
  for (const i of p.order) {
    for (const [w, seen] of registered(p, i)) {
      const r = Atomics.waitAsync(p.cores[i].c, w, seen, slice);
      if (!r.async) return;
      racers.push(r.value);
    }
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let unwatch: (() => void) | undefined;
  racers.push(new Promise((resolve) => (timer = setTimeout(resolve, slice))));
  // one listener per signal however many selects share it (see wait.ts's watchAbort)
  if (signal) racers.push(new Promise((resolve) => (unwatch = watchAbort(signal, () => resolve(0)))));
  try {
    await Promise.race(racers);
  } finally {
    clearTimeout(timer);
    unwatch?.();
  }
}

/**
 * Sync, registered and snapshotted: spins watching every word, then blocks on one case's word (in
 * turn) for at most {@link SYNC_SLICE_MS}, or until the deadline when there is only that word.
 */
export function waitOneSync(p: Prepared, deadline: number, turn: number): void {
  for (let k = 0; k < WORKER_SPIN; k++) {
    if (changed(p)) return;
    cpuRelax();
  }
  const left = deadline - now();
  if (left <= 0) return;
  const i = p.order[turn % p.order.length];
  const mine = registered(p, i);
  const [w, seen] = mine[p.pick[i] === 1 && mine.length > 1 ? 1 : 0];
  const single = p.order.length === 1 && mine.length === 1;
  Atomics.wait(p.cores[i].c, w, seen, single ? left : Math.min(left, SYNC_SLICE_MS));
}
