import fc from 'fast-check';
import {
  CorruptMemoryError,
  decodeBatchFrame,
  decodeResultsFrame,
  encodeBatchColumns,
  encodeBatchFrame,
  encodeResultsFrame,
  forEachResult,
  FrameValue,
  Semaphore,
} from 'skein/internal';
import { describe, expect, it } from 'vitest';

// Values a stage may take or give: everything structured clone keeps, in the shapes the frame
// encodes differently (strings, numbers, bytes, plain data, and values only v8.serialize takes).
const leaf = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.string(),
  fc.string({ unit: 'binary' }), // lone surrogates included
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.bigInt(),
  fc.date({ noInvalidDate: true }),
);
const value = fc.oneof(
  leaf,
  fc.uint8Array().map((u) => u),
  fc.uint8Array().map((u) => Buffer.from(u)),
  fc.uint8Array().map((u) => u.slice().buffer),
  fc.dictionary(fc.string(), leaf),
  fc.array(leaf),
  fc.array(leaf).map((a) => new Map(a.map((v, i) => [i, v]))),
);

function sameAsClone(actual: unknown, original: unknown): void {
  if (Buffer.isBuffer(original)) {
    expect(Buffer.isBuffer(actual)).toBe(true);
    expect(Buffer.compare(actual as Buffer, original)).toBe(0);
    return;
  }
  expect(actual).toStrictEqual(structuredClone(original));
}

describe('chain batch frames (batch-frame.ts)', () => {
  it('round-trip a batch: every item keeps its value, stage, ticket and generation (property)', () => {
    const item = fc.record({ v: value, k: fc.nat(62), t: fc.nat(1 << 20), g: fc.integer({ min: 1, max: 0xffffff }) });
    fc.assert(
      fc.property(fc.array(item, { maxLength: 40 }), fc.nat(63), fc.string({ minLength: 1, maxLength: 30 }), (items, e, id) => {
        const frame = encodeBatchFrame(items, e, id);
        expect(frame).toBeInstanceOf(Uint8Array);
        const back = decodeBatchFrame(frame as Uint8Array);
        expect(back.e).toBe(e);
        expect(back.id).toBe(id);
        expect(back.b.length).toBe(items.length);
        back.b.forEach((it, i) => {
          expect([it.k, it.t, it.g]).toEqual([items[i].k, items[i].t, items[i].g]);
          sameAsClone(it.v, items[i].v);
        });
      }),
    );
  });

  it('round-trip results, outputs and error records alike (property)', () => {
    const result = fc.tuple(fc.constantFrom(0 as const, 1 as const), value);
    fc.assert(
      fc.property(fc.array(result, { maxLength: 40 }), (results) => {
        const back = decodeResultsFrame(encodeResultsFrame(results) as Uint8Array);
        expect(back.length).toBe(results.length);
        back.forEach(([ok, v], i) => {
          expect(ok).toBe(results[i][0]);
          sameAsClone(v, results[i][1]);
        });
      }),
    );
  });

  it('writes a batch given as columns in the same bytes as one given as items (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(value, fc.nat(1 << 20), fc.integer({ min: 1, max: 0xffffff })), { maxLength: 40 }),
        fc.nat(62),
        (rows, k) => {
          const items = rows.map(([v, t, g]) => ({ v, k, t, g }));
          const cols = encodeBatchColumns(rows.map((r) => r[0]), k, rows.map((r) => r[1]), rows.map((r) => r[2]), 63, 'cols');
          expect(cols).toEqual(encodeBatchFrame(items, 63, 'cols'));
        },
      ),
    );
  });

  it('visits results in order as decodeResultsFrame returns them, and stops at a corrupt frame (property)', () => {
    const result = fc.tuple(fc.constantFrom(0 as const, 1 as const), value);
    fc.assert(
      fc.property(fc.array(result, { maxLength: 40 }), (results) => {
        const frame = encodeResultsFrame(results) as Uint8Array;
        const seen: [boolean, unknown, number][] = [];
        forEachResult(frame, false, (ok, v, i) => seen.push([ok, v, i]));
        expect(seen.map(([ok, , i]) => [ok ? 1 : 0, i])).toEqual(results.map(([ok], i) => [ok, i]));
        seen.forEach(([, v], i) => sameAsClone(v, results[i][1]));
        if (frame.length > 5) expect(() => forEachResult(frame.subarray(0, frame.length - 1), false, () => {})).toThrow(CorruptMemoryError);
      }),
    );
  });

  it('hands outputs on in their bytes: a batch frame of them decodes as the outputs themselves (property)', () => {
    // Between two pool segments the main thread keeps each output as it arrived (FrameValue) and
    // copies it into the next batch as it is: the worker must see what decoding and encoding would give.
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 40 }), (outs) => {
        const results = decodeResultsFrame(encodeResultsFrame(outs.map((v) => [1, v])) as Uint8Array, true);
        for (const [ok, v] of results) {
          expect(ok).toBe(1);
          expect(v).toBeInstanceOf(FrameValue);
        }
        const items = results.map(([, v], i) => ({ v, k: 1, t: i, g: 7 }));
        const back = decodeBatchFrame(encodeBatchFrame(items, 3, 'next') as Uint8Array);
        back.b.forEach((it, i) => sameAsClone(it.v, outs[i]));
        results.forEach(([, v], i) => sameAsClone((v as InstanceType<typeof FrameValue>).decode(), outs[i]));
      }),
    );
  });

  it('decodes error records even when outputs are kept in their bytes', () => {
    const [[ok0, err], [ok1, out]] = decodeResultsFrame(encodeResultsFrame([[0, { message: 'boom' }], [1, 'x']]) as Uint8Array, true);
    expect([ok0, err]).toEqual([0, { message: 'boom' }]);
    expect(ok1).toBe(1);
    expect((out as InstanceType<typeof FrameValue>).decode()).toBe('x');
  });

  it('gives every decoded buffer memory of its own, not a view into the frame', () => {
    const out = decodeResultsFrame(encodeResultsFrame([[1, Buffer.from('abc')], [1, new Uint8Array([1, 2])]]) as Uint8Array);
    const [a, b] = out.map(([, v]) => v as Uint8Array);
    expect(a.buffer).not.toBe(b.buffer);
    expect(b.byteOffset).toBe(0);
    expect(b.buffer.byteLength).toBe(2);
  });

  it('declines values that hold shared memory (the object form carries their buffers)', () => {
    const sem = new Semaphore(1);
    expect(encodeBatchFrame([{ v: 'ok', k: 0, t: 0, g: 1 }, { v: { sem }, k: 0, t: 1, g: 1 }], 1, 'id')).toBeNull();
    expect(encodeResultsFrame([[1, new Int32Array(new SharedArrayBuffer(8))]])).toBeNull();
    expect(encodeResultsFrame([[1, 'fine']])).not.toBeNull();
  });

  it('a getter that writes a frame while one is being written gets null, and the outer frame stays whole', () => {
    let inner: Uint8Array | null | undefined;
    const tricky = {
      get x(): number {
        inner = encodeResultsFrame([[1, 'inner']]);
        return 1;
      },
    };
    const outer = encodeBatchFrame([{ v: 'a', k: 0, t: 0, g: 1 }, { v: tricky, k: 0, t: 1, g: 1 }, { v: 'b', k: 0, t: 2, g: 1 }], 1, 'id');
    expect(inner).toBeNull();
    expect(decodeBatchFrame(outer as Uint8Array).b.map((it) => it.v)).toEqual(['a', { x: 1 }, 'b']);
  });

  it('frames after a huge one still round-trip (the grown scratch buffer is let go)', () => {
    const huge = 'h'.repeat(3 << 20);
    expect(decodeResultsFrame(encodeResultsFrame([[1, huge]]) as Uint8Array)[0][1]).toBe(huge);
    expect(decodeResultsFrame(encodeResultsFrame([[1, 'small'], [0, { message: 'm' }]]) as Uint8Array)).toEqual([
      [1, 'small'],
      [0, { message: 'm' }],
    ]);
  });

  it('refuses a frame that is cut short, too long, or not a frame, with CorruptMemoryError', () => {
    const frame = encodeBatchFrame([{ v: 'hello', k: 0, t: 3, g: 9 }], 2, 'chain-1') as Uint8Array;
    for (let cut = 0; cut < frame.length; cut++) {
      expect(() => decodeBatchFrame(frame.subarray(0, cut))).toThrow(CorruptMemoryError);
    }
    const longer = new Uint8Array(frame.length + 1);
    longer.set(frame);
    expect(() => decodeBatchFrame(longer)).toThrow(CorruptMemoryError);
    expect(() => decodeResultsFrame(frame)).toThrow(CorruptMemoryError);
    const results = encodeResultsFrame([[1, 5]]) as Uint8Array;
    results[5] = 7; // an item status that is neither 0 nor 1
    expect(() => decodeResultsFrame(results)).toThrow(CorruptMemoryError);
  });
});
