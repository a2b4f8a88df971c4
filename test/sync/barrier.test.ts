// Barrier: cyclic rounds with one leader each; withdrawn arrivals on timeout and abort; a fast-check
// model of arrivals and withdrawals; real workers meeting round after round.
import fc from 'fast-check';
import { AbortError, Barrier, type BarrierResult, FixedWorkerPool, InvalidArgumentError, TimeoutError } from 'skein';
import { describe, expect, it } from 'vitest';

const TASKS = new URL('../fixtures/sync-locks-tasks.mjs', import.meta.url);
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 2));

describe('Barrier', () => {
  it('releases a round when the last party arrives, which leads; then runs the next round', async () => {
    const b = new Barrier(3);
    for (let round = 0; round < 3; round++) {
      const first = [b.wait(), b.wait()];
      await tick();
      expect(b.waiting).toBe(2);
      const last = await b.wait();
      expect(last.leader).toBe(true);
      expect((await Promise.all(first)).map((r) => r.leader)).toEqual([false, false]);
      expect(b.waiting).toBe(0);
    }
  });

  it('withdraws an arrival that times out or is aborted', async () => {
    const b = new Barrier(2);
    expect(await b.wait({ timeout: 10 }).catch((e: unknown) => e)).toBeInstanceOf(TimeoutError);
    expect(b.waiting).toBe(0);
    const ac = new AbortController();
    const p = b.wait({ signal: ac.signal });
    ac.abort();
    expect(await p.catch((e: unknown) => e)).toBeInstanceOf(AbortError);
    expect(await b.wait({ signal: AbortSignal.abort() }).catch((e: unknown) => e)).toBeInstanceOf(AbortError);
    expect(b.waiting).toBe(0);
    const [x, y] = await Promise.all([b.wait(), b.wait()]);
    expect([x.leader, y.leader].sort()).toEqual([false, true]);
  });

  it('rejects bad parties', () => {
    for (const p of [0, -1, 1.5, 70_000, Number.NaN]) expect(() => new Barrier(p)).toThrow(InvalidArgumentError);
    expect(new Barrier(1).waitSync().leader).toBe(true);
  });

  it('matches a model of rounds, leaders and withdrawals (property)', async () => {
    type Op = { k: 'arrive' } | { k: 'abort'; i: number };
    const op = fc.oneof(
      { weight: 3, arbitrary: fc.constant<Op>({ k: 'arrive' }) },
      { weight: 1, arbitrary: fc.nat(5).map<Op>((i) => ({ k: 'abort', i })) },
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.array(op, { maxLength: 30 }), async (parties, ops) => {
        const b = new Barrier(parties);
        let waiting: { p: Promise<BarrierResult | Error>; ac: AbortController }[] = [];
        let leaders = 0;
        let rounds = 0;
        for (const o of ops) {
          if (o.k === 'arrive') {
            const ac = new AbortController();
            const p = b.wait({ signal: ac.signal }).catch((e: Error) => e);
            if (waiting.length + 1 === parties) {
              const r = (await p) as BarrierResult;
              expect(r.leader).toBe(true);
              for (const w of waiting) expect(await w.p).toEqual({ leader: false });
              leaders++;
              rounds++;
              waiting = [];
            } else {
              waiting.push({ p, ac });
            }
          } else if (waiting.length > 0) {
            const [w] = waiting.splice(o.i % waiting.length, 1);
            w.ac.abort();
            expect(await w.p).toBeInstanceOf(AbortError);
          }
          await tick();
          expect(b.waiting).toBe(waiting.length);
        }
        expect(leaders).toBe(rounds);
        for (const w of waiting) w.ac.abort();
        await Promise.all(waiting.map((w) => w.p));
        expect(b.waiting).toBe(0);
      }),
      { numRuns: 60 },
    );
  });

  it('keeps real workers in step for many rounds, one leader per round', async () => {
    const parties = 4;
    const n = 150;
    const barrier = new Barrier(parties);
    const slots = new Int32Array(new SharedArrayBuffer(4 * parties));
    const leaders = new Int32Array(new SharedArrayBuffer(4 * (n + 1)));
    const pool = new FixedWorkerPool(parties, { filename: TASKS });
    try {
      const bad = await Promise.all(
        Array.from({ length: parties }, (_, me) =>
          pool.submit<number>({ barrier, slots, leaders, me, rounds: n }, { fn: 'rounds' }),
        ),
      );
      expect(bad).toEqual([0, 0, 0, 0]);
      for (let r = 1; r <= n; r++) expect(leaders[r]).toBe(1);
    } finally {
      await pool.close();
    }
  });
});
