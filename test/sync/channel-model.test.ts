import fc from 'fast-check';
import { Channel, ChannelClosedError } from 'skein';
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
