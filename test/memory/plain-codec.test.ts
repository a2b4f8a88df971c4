import fc from 'fast-check';
import {
  CorruptMemoryError,
  decode,
  type Encoded,
  encode,
  encodeTransient,
  newEncoded,
  ownEncoded,
  payloadLength,
  roundTrip,
  SerializationError,
  Tag,
} from 'skein/internal';
import { describe, expect, it } from 'vitest';

/** The payload of `e` as bytes of its own (what a writer copies into shared memory). */
function copied(e: Encoded): Uint8Array {
  return Uint8Array.prototype.slice.call(e.bytes ?? new Uint8Array(0), 0, payloadLength(e));
}

function throughTransient(v: unknown): unknown {
  const e = encodeTransient(v);
  return decode(e.tag, copied(e), e.sabs);
}

describe('codec: encodeTransient, the entry that tries the plain codec first', () => {
  it('takes the plain codec for plain objects and arrays, with the length in num', () => {
    for (const v of [{}, [], { id: 1, name: 'x', tags: ['a', 'b'] }, [1, 'two', null, true, { x: 0.5 }]]) {
      const e = encodeTransient(v);
      expect(e.tag).toBe(Tag.Plain);
      expect(payloadLength(e)).toBe(e.num);
      expect(e.num).toBeGreaterThan(0);
      expect(e.num).toBeLessThanOrEqual((e.bytes as Uint8Array).byteLength);
    }
  });

  it('gives what the plain codec declines to encode, and encode never uses the plain codec', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const shared = { n: 1 };
    for (const v of [
      new Date(0),
      new Map([[1, 2]]),
      { when: new Date(0) },
      cyclic,
      [shared, shared],
      [1, , 3],
    ]) {
      expect(encodeTransient(v).tag).toBe(Tag.V8);
      expect(throughTransient(v)).toStrictEqual(structuredClone(v));
    }
    expect(encode({ a: 1 }).tag).toBe(Tag.V8);
    expect(encode([1, 2]).tag).toBe(Tag.V8);
    for (const v of [7, 0.5, 'text', null, undefined, true, new Uint8Array([1, 2])]) {
      expect(encodeTransient(v).tag).toBe(encode(v).tag);
    }
  });

  it('round-trips JSON-like values as structured clone does (property)', () => {
    const leaf = fc.oneof(fc.integer(), fc.double(), fc.string(), fc.boolean(), fc.constant(null));
    const tree = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.array(tie('node')),
        fc.dictionary(fc.string(), tie('node')),
      ),
    })).node;
    fc.assert(
      fc.property(fc.oneof(fc.array(tree), fc.dictionary(fc.string(), tree)), (v) => {
        expect(throughTransient(v)).toStrictEqual(structuredClone(v));
      }),
    );
  });

  it('keeps lone surrogates in keys and strings exactly (UTF-8 cannot hold them)', () => {
    const sab = new SharedArrayBuffer(8);
    for (const v of [
      { a: 'x\udc00y' },
      ['\ud800'],
      { ['k\ud800']: 1 },
      ['é\udfff', 'ok'],
      ['\ud800'.repeat(60)],
    ]) {
      expect(throughTransient(v)).toStrictEqual(structuredClone(v));
      // the shared walk (encode of a value holding shared memory) writes strings the same way
      const back = roundTrip({ sab, v }) as { v: unknown };
      expect(back.v).toStrictEqual(structuredClone(v));
    }
    const lone = fc.string({ unit: fc.oneof(fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), fc.constantFrom('a', 'é', '😀')) });
    fc.assert(
      fc.property(fc.dictionary(lone, fc.array(lone), { noNullPrototype: true }), (v) => {
        expect(throughTransient(v)).toStrictEqual(structuredClone(v));
      }),
    );
  });

  it('refuses a Proxy or an arguments object as the general path does, instead of copying it as plain data', () => {
    const args = (function (..._a: unknown[]) {
      // eslint-disable-next-line prefer-rest-params
      return arguments;
    })(1, 2);
    for (const v of [new Proxy({ a: 1 }, {}), [new Proxy([1], {})], { inner: new Proxy({}, {}) }, args, { args }]) {
      expect(() => encode(v)).toThrow(SerializationError);
      expect(() => encodeTransient(v)).toThrow(SerializationError);
    }
  });

  it('its scratch bytes are reused by the next call; ownEncoded keeps a copy of its own', () => {
    const out = newEncoded();
    const first = ownEncoded(encodeTransient({ a: 'first' }, out));
    const e = encodeTransient({ a: 'second, longer' }, out);
    expect(decode(first.tag, copied(first))).toEqual({ a: 'first' });
    expect(decode(e.tag, copied(e))).toEqual({ a: 'second, longer' });

    const bytes = new Uint8Array([1, 2, 3]);
    const kept = ownEncoded(encodeTransient(bytes));
    bytes[0] = 9;
    expect(Array.from(decode(kept.tag, copied(kept)) as Uint8Array)).toEqual([1, 2, 3]);
  });

  it('does not keep a scratch buffer sized for one huge message for the rest of the thread', () => {
    const huge = { s: 'x'.repeat(8 << 20) }; // 8 MiB of text: the scratch grows to 32 MiB for it
    const big = encodeTransient(huge);
    expect(big.tag).toBe(Tag.Plain);
    expect(throughTransient({ s: 'x'.repeat(8 << 20) })).toEqual(huge);
    const small = encodeTransient({ id: 1 });
    expect(small.tag).toBe(Tag.Plain);
    expect((small.bytes as Uint8Array).byteLength).toBeLessThanOrEqual(1 << 20);
    expect(throughTransient({ id: 1 })).toEqual({ id: 1 });
  });

  it('corrupt plain bytes and unknown tags are CorruptMemoryError', () => {
    const e = encodeTransient({ a: 1, b: 'two' });
    const bytes = copied(e);
    bytes[0] = 0xee;
    expect(() => decode(Tag.Plain, bytes)).toThrow(CorruptMemoryError);
    expect(() => decode(Tag.Plain, copied(e).subarray(0, e.num - 1))).toThrow(CorruptMemoryError);
    expect(() => decode(12, new Uint8Array(0))).toThrow(/unknown value tag 12/);
  });
});
