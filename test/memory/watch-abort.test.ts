// watchAbort (memory/wait/abort.ts over memory/signal-watch.ts) against a model: a set of active
// watchers per signal. Whatever the order of watch, unwatch (repeated, or after the abort) and abort,
// every watcher active at the abort is called exactly once and no other, the newest first (so a
// pool cancels a batch's queued tasks before it aborts its running ones: pool/main/abort-watch.ts),
// and the signal holds one 'abort' listener of ours exactly while it has an active watcher (none
// after the last unwatch).
import { getEventListeners } from 'node:events';
import fc from 'fast-check';
import { watchAbort } from 'skein/internal';
import { describe, expect, it } from 'vitest';

type Op = { t: 'watch'; s: number } | { t: 'unwatch'; k: number } | { t: 'abort'; s: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ t: fc.constant('watch' as const), s: fc.nat(1) }), weight: 4 },
  { arbitrary: fc.record({ t: fc.constant('unwatch' as const), k: fc.nat(15) }), weight: 3 },
  { arbitrary: fc.record({ t: fc.constant('abort' as const), s: fc.nat(1) }), weight: 1 },
);

interface W {
  signal: number;
  unwatch: () => void;
  calls: number;
}

describe('watchAbort against a model', () => {
  it('calls exactly the active watchers once, newest first; one listener while any is active, none after', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const acs = [new AbortController(), new AbortController()];
        const ws: W[] = [];
        const called: W[] = [];
        const active = [new Set<W>(), new Set<W>()];
        const aborted = [false, false];
        for (const o of ops) {
          if (o.t === 'watch') {
            const w: W = { signal: o.s, unwatch: () => {}, calls: 0 };
            w.unwatch = watchAbort(acs[o.s].signal, () => {
              w.calls++;
              called.push(w);
            });
            ws.push(w);
            // An aborted signal never fires again: the model keeps such a watcher active (never called).
            active[o.s].add(w);
          } else if (o.t === 'unwatch') {
            const w = ws[o.k % Math.max(ws.length, 1)];
            if (w === undefined) continue;
            w.unwatch();
            active[w.signal].delete(w);
          } else if (o.t === 'abort') {
            if (aborted[o.s]) continue;
            const expected = new Set(active[o.s]);
            const before = new Map(ws.map((w) => [w, w.calls]));
            called.length = 0;
            acs[o.s].abort();
            aborted[o.s] = true;
            for (const w of ws) expect(w.calls - before.get(w)!).toBe(expected.has(w) ? 1 : 0);
            expect(called).toEqual([...expected].reverse()); // a Set keeps the order they began watching
            active[o.s].clear();
          }
          for (const s of [0, 1]) {
            expect(getEventListeners(acs[s].signal, 'abort').length).toBe(active[s].size > 0 ? 1 : 0);
          }
        }
        for (const w of ws) expect(w.calls).toBeLessThanOrEqual(1);
        for (const w of ws) w.unwatch();
        for (const s of [0, 1]) expect(getEventListeners(acs[s].signal, 'abort').length).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it('a watcher that unwatches another, or itself, during the abort breaks no one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.nat(7), fc.nat(7), (n, a, b) => {
        const ac = new AbortController();
        const calls = new Array<number>(n).fill(0);
        const un: (() => void)[] = [];
        const i = a % n;
        const j = b % n;
        for (let k = 0; k < n; k++) {
          un.push(
            watchAbort(ac.signal, () => {
              calls[k]++;
              if (k === i) un[j]();
            }),
          );
        }
        ac.abort();
        // Called newest first: watcher j is not called if i unwatched it before its turn (j older).
        for (let k = 0; k < n; k++) expect(calls[k]).toBe(j < i && k === j ? 0 : 1);
        for (const u of un) u();
        for (const u of un) u();
        expect(getEventListeners(ac.signal, 'abort').length).toBe(0);
      }),
    );
  });

  it('an unwatch called twice takes no other watcher with it', () => {
    const ac = new AbortController();
    let a = 0;
    let c = 0;
    const ua = watchAbort(ac.signal, () => a++);
    const ub = watchAbort(ac.signal, () => {});
    ub();
    ub();
    const uc = watchAbort(ac.signal, () => c++);
    ub();
    expect(getEventListeners(ac.signal, 'abort').length).toBe(1);
    ac.abort();
    expect([a, c]).toEqual([1, 1]);
    ua();
    uc();
  });
});
