import fc from 'fast-check';
import { Channel, ChannelClosedError, defaultCase, recv, type SelectCase, select, selectSync, send } from 'skein';
import { describe, expect, it } from 'vitest';

/**
 * The sequential model: a FIFO bounded by a message count and by ring bytes. A record takes an
 * 8-byte header plus its payload rounded up to 8 (src/sync/channel/byte-ring.ts); payloads here are int32
 * (4 bytes) or ASCII strings (one byte per character). A try never streams, so a record larger
 * than the ring never fits.
 */
class Model {
  readonly q: (number | string)[] = [];
  used = 0;
  closed = false;
  constructor(
    readonly capacity: number,
    readonly size: number,
  ) {}

  static bytes(v: number | string): number {
    const payload = typeof v === 'number' ? 4 : v.length;
    return 8 + ((payload + 7) & ~7);
  }

  trySend(v: number | string): boolean | 'closed' {
    if (this.closed) return 'closed';
    if (this.q.length >= this.capacity || this.used + Model.bytes(v) > this.size) return false;
    this.q.push(v);
    this.used += Model.bytes(v);
    return true;
  }

  tryRecv(): { ok: true; value: number | string } | { ok: false } | undefined {
    const v = this.q.shift();
    if (v === undefined) return this.closed ? { ok: false } : undefined;
    this.used -= Model.bytes(v);
    return { ok: true, value: v };
  }

  close(): boolean | 'closed' {
    if (this.closed) return 'closed';
    this.closed = true;
    return true;
  }
}

type Op = { op: 'send'; v: number | string } | { op: 'recv' } | { op: 'close' };

const value = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.string({ unit: 'binary-ascii', maxLength: 150 }),
);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 10, arbitrary: value.map((v) => ({ op: 'send' as const, v })) },
  { weight: 10, arbitrary: fc.constant({ op: 'recv' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'close' as const }) },
);

function run(ch: Channel<number | string>, o: Op): unknown {
  try {
    if (o.op === 'send') return ch.trySend(o.v);
    if (o.op === 'recv') return ch.tryRecv();
    ch.close();
    return true;
  } catch (e) {
    if (e instanceof ChannelClosedError) return 'closed';
    throw e;
  }
}

describe('Channel against a sequential model', () => {
  it('every trySend / tryRecv / close result matches a bounded FIFO', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 6 }),
        fc.constantFrom(64, 128, 256, 1024),
        fc.array(op, { maxLength: 200 }),
        (capacity, bytes, ops) => {
          const ch = new Channel<number | string>({ capacity, bytes });
          // capacity 0: no receiver ever waits here, so a try never hands a message over
          const m = new Model(capacity, bytes);
          for (const o of ops) {
            const want = o.op === 'send' ? m.trySend(o.v) : o.op === 'recv' ? m.tryRecv() : m.close();
            expect(run(ch, o)).toEqual(want);
            expect(ch.length).toBe(m.q.length);
            expect(ch.closed).toBe(m.closed);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

type SelOp = { kind: 'recv'; ch: number } | { kind: 'send'; ch: number; v: number } | { kind: 'close'; ch: number };

describe('select against a sequential model', () => {
  it('exactly one ready case goes (default only when none is); a send on a closed channel may throw', async () => {
    const selOp: fc.Arbitrary<SelOp> = fc.oneof(
      { weight: 5, arbitrary: fc.nat(2).map((ch) => ({ kind: 'recv' as const, ch })) },
      { weight: 5, arbitrary: fc.tuple(fc.nat(2), fc.integer()).map(([ch, v]) => ({ kind: 'send' as const, ch, v })) },
      { weight: 1, arbitrary: fc.nat(2).map((ch) => ({ kind: 'close' as const, ch })) },
    );
    const caseList = fc.array(selOp, { minLength: 1, maxLength: 4 });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 3, maxLength: 3 }),
        fc.array(fc.tuple(caseList, fc.boolean()), { maxLength: 60 }),
        async (caps, steps) => {
          const chs = caps.map((capacity) => new Channel<number>({ capacity }));
          const m = caps.map((capacity) => ({ capacity, q: [] as number[], closed: false }));
          for (const [[...ops], sync] of steps) {
            const closes = ops.filter((o) => o.kind === 'close');
            for (const o of closes) {
              if (!m[o.ch].closed) {
                chs[o.ch].close();
                m[o.ch].closed = true;
              }
            }
            const cs = ops.filter((o): o is Exclude<SelOp, { kind: 'close' }> => o.kind !== 'close');
            const ready = cs.map((o) => {
              const c = m[o.ch];
              if (o.kind === 'recv') return c.q.length > 0 || c.closed;
              return !c.closed && c.q.length < c.capacity; // capacity 0: no receiver waits here
            });
            const cases: SelectCase[] = cs.map((o) => (o.kind === 'recv' ? recv(chs[o.ch]) : send(chs[o.ch], o.v)));
            cases.push(defaultCase());
            let r;
            try {
              r = sync ? selectSync<number>(cases) : await select<number>(cases);
            } catch (e) {
              expect(e).toBeInstanceOf(ChannelClosedError);
              expect(cs.some((o) => o.kind === 'send' && m[o.ch].closed)).toBe(true);
              continue;
            }
            if (r.index === cs.length) {
              expect(ready.some(Boolean)).toBe(false); // default, only when nothing was ready
              expect(cs.some((o) => o.kind === 'send' && m[o.ch].closed)).toBe(false);
              continue;
            }
            const o = cs[r.index];
            expect(ready[r.index]).toBe(true);
            const c = m[o.ch];
            if (o.kind === 'send') {
              c.q.push(o.v);
              expect(r).toEqual({ index: r.index, ok: true });
            } else if (c.q.length > 0) {
              expect(r).toEqual({ index: r.index, ok: true, value: c.q.shift() });
            } else {
              expect(r).toEqual({ index: r.index, ok: false, value: undefined });
            }
          }
          chs.forEach((ch, k) => expect(ch.length).toBe(m[k].q.length));
        },
      ),
      { numRuns: 150 },
    );
  });
});
