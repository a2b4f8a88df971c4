// Model test of the pool's shared-memory rings (src/pool/shared/ring.ts) against a plain FIFO queue.
// Random writes of random sizes (up to the largest payload a record may carry, so records straddle
// the ring's end and rewind), publishes, claims of random runs by several readers, and claimers
// stalled at each step of the claim protocol (scan, CAS, copy; layout.ts claim C3-C6) while the
// writer laps the ring and other claimers take what follows. Every record is read back exactly
// once, whole, in the order it was written; a write is refused only while records hold the room.
import fc from 'fast-check';
import {
  createRing,
  encode,
  newEncoded,
  payloadLength,
  ResultRingReader,
  ResultRingWriter,
  setStepHook,
  Step,
  TaskRingReader,
  TaskRingWriter,
} from 'skein/internal';
import { afterEach, describe, expect, it } from 'vitest';

const SIZE = 4096; // the smallest ring: a lap costs a few records
const MAX_PAYLOAD = SIZE / 4 - 16; // ring.ts maxPayload

type Kind = 'str' | 'bytes' | 'int' | 'f64' | 'obj';
interface Val {
  kind: Kind;
  len: number;
}
const len = fc.oneof(
  fc.integer({ min: 0, max: 48 }),
  fc.integer({ min: MAX_PAYLOAD - 40, max: MAX_PAYLOAD }),
  fc.integer({ min: 0, max: MAX_PAYLOAD }),
);
const val: fc.Arbitrary<Val> = fc.record({
  kind: fc.constantFrom<Kind>('str', 'str', 'bytes', 'int', 'f64', 'obj'),
  len,
});

/** The value a record carries: its slot is in it, so a record read at the wrong place shows. */
function valueOf(v: Val, slot: number): unknown {
  switch (v.kind) {
    case 'int':
      return slot;
    case 'f64':
      return slot + 0.5;
    case 'str': {
      const head = `${slot}:`;
      return head + 'abcdefghijklmnopqrstuvwxyz'.repeat(40).slice(0, Math.max(0, v.len - head.length));
    }
    case 'bytes': {
      const b = new Uint8Array(v.len);
      for (let i = 0; i < v.len; i++) b[i] = (slot * 31 + i) & 0xff;
      return b;
    }
    case 'obj':
      // v8-serialized (the general codec path), a few bytes more than its string
      return { slot, s: 'q'.repeat(Math.max(0, v.len - 40)), n: [slot, -slot] };
  }
}

type Op =
  | { op: 'write'; v: Val }
  | { op: 'publish' }
  | { op: 'claim'; reader: number; max: number }
  | { op: 'stall'; reader: number; max: number; at: 'scan' | 'cas' | 'copy'; inner: Op[] };

const flatOp: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('write' as const), v: val }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('publish' as const) }) },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant('claim' as const), reader: fc.nat(2), max: fc.integer({ min: 1, max: 70 }) }),
  },
);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: flatOp },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('stall' as const),
      reader: fc.nat(2),
      max: fc.integer({ min: 1, max: 8 }),
      at: fc.constantFrom<'scan' | 'cas' | 'copy'>('scan', 'cas', 'copy'),
      inner: fc.array(flatOp, { maxLength: 40 }),
    }),
  },
);

afterEach(() => setStepHook(undefined));

describe('task ring against a FIFO model', () => {
  it('every written record is claimed once, whole, in order, by any mix of claimers and stalls', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 160 }), (ops) => {
        const sab = createRing(SIZE);
        const w = new TaskRingWriter(sab);
        const readers = [0, 1, 2].map(() => new TaskRingReader(sab));
        // The model: records written (slot, value), how many are published, how many claimed.
        const written: { slot: number; value: unknown }[] = [];
        let published = 0;
        let claimed = 0;
        /** Records claimed by a stalled claimer that has not marked them yet (they hold ring room). */
        let held = 0;
        let nextSlot = 0;

        /** Claims with `r`; `take(n)` is the model's count for it, asked right after the HEAD CAS. */
        const claimExpecting = (r: TaskRingReader, max: number, take: () => number): void => {
          const got: { slot: number; value: unknown }[] = [];
          const owned: number[] = [];
          let counted = -1;
          let from = -1;
          let k = -1;
          const n = r.claim(
            max,
            (slot, fnId, value) => {
              expect(fnId, `record ${slot} failed to decode: ${String(value)}`).toBe(7);
              expect(owned.at(-1)).toBe(slot); // claim C5: named before it is handed over
              got.push({ slot, value });
            },
            (c) => {
              counted = c;
              from = claimed;
              k = take();
              claimed += k;
            },
            (slot) => owned.push(slot),
          );
          if (counted < 0) {
            expect(n).toBe(0);
            expect(Math.min(max, published - claimed)).toBe(0);
            expect(got).toEqual([]);
            return;
          }
          expect(counted).toBe(n);
          expect(n).toBe(k);
          expect(got).toEqual(written.slice(from, from + n));
        };

        const run = (o: Op, inStall: boolean): void => {
          switch (o.op) {
            case 'write': {
              const slot = nextSlot++;
              const value = valueOf(o.v, slot);
              const e = encode(value, newEncoded());
              const ok = w.tryWrite(slot, 7, e, payloadLength(e));
              if (ok) written.push({ slot, value });
              // Refused only while records still in the ring (or a stalled claim's) hold the room.
              else expect(written.length - claimed + held > 0 || inStall).toBe(true);
              break;
            }
            case 'publish':
              w.publish();
              published = written.length;
              break;
            case 'claim':
              claimExpecting(readers[o.reader], o.max, () => Math.min(o.max, published - claimed));
              break;
            case 'stall': {
              const point = { scan: Step.RingClaimScan, cas: Step.RingClaimCas, copy: Step.RingClaimCopy }[o.at];
              const reader = readers[o.reader];
              const others = readers.filter((x) => x !== reader);
              let publishedThen = -1;
              let claimedThen = -1;
              let stalled = 0;
              setStepHook((p) => {
                if (p !== point) return;
                setStepHook(undefined);
                publishedThen = published;
                claimedThen = claimed;
                held = o.at === 'copy' ? stalled : 0;
                for (const x of o.inner) {
                  // Others claim meanwhile (not the stalled reader: it is one thread, paused).
                  run(x.op === 'claim' ? { ...x, reader: readers.indexOf(others[x.reader % 2]) } : x, true);
                }
                held = 0;
              });
              claimExpecting(reader, o.max, () => {
                // copy: the HEAD CAS is won, the pause comes after this count.
                if (o.at === 'copy' || publishedThen < 0) return (stalled = Math.min(o.max, published - claimed));
                // scan, cas: if HEAD did not move meanwhile its old scan (old TAIL) stands, else it rescanned.
                return claimed === claimedThen ? Math.min(o.max, publishedThen - claimed) : Math.min(o.max, published - claimed);
              });
              setStepHook(undefined);
              break;
            }
          }
        };
        for (const o of ops) run(o, false);
        // Drained at the end: everything written arrives.
        w.publish();
        published = written.length;
        while (claimed < published) claimExpecting(readers[0], 64, () => Math.min(64, published - claimed));
        // An empty ring takes the largest record.
        const big = encode('z'.repeat(MAX_PAYLOAD), newEncoded());
        expect(w.tryWrite(nextSlot, 7, big, payloadLength(big))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

type ROp = { op: 'write'; v: Val } | { op: 'publish' } | { op: 'drain' };
const rop: fc.Arbitrary<ROp> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('write' as const), v: val }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('publish' as const) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('drain' as const) }) },
);

describe('result ring against a FIFO model', () => {
  it('every published result is drained once, whole, in order; a write is refused only while results hold the room', () => {
    fc.assert(
      fc.property(fc.array(rop, { maxLength: 200 }), (ops) => {
        const sab = createRing(SIZE);
        const w = new ResultRingWriter(sab);
        const r = new ResultRingReader(sab);
        const written: { slot: number; status: number; value: unknown }[] = [];
        let published = 0;
        let drained = 0;
        let nextSlot = 0;
        const drain = (): void => {
          const got: { slot: number; status: number; value: unknown }[] = [];
          const n = r.drain((slot, status, value, err) => {
            expect(err).toBeUndefined();
            got.push({ slot, status, value });
          });
          expect(n).toBe(published - drained);
          expect(got).toEqual(written.slice(drained, published));
          drained = published;
        };
        for (const o of ops) {
          if (o.op === 'write') {
            const slot = nextSlot++;
            const value = valueOf(o.v, slot);
            const e = encode(value, newEncoded());
            const status = slot % 3;
            if (w.tryWrite(slot, status, e, payloadLength(e))) written.push({ slot, status, value });
            else expect(written.length - drained).toBeGreaterThan(0);
          } else if (o.op === 'publish') {
            w.publish();
            published = written.length;
          } else drain();
        }
        w.publish();
        published = written.length;
        drain();
        const big = encode('z'.repeat(MAX_PAYLOAD), newEncoded());
        expect(w.tryWrite(nextSlot, 0, big, payloadLength(big))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
