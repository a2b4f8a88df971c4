import fc from 'fast-check';
import {
  carriesSabs,
  CorruptMemoryError,
  decode,
  encode,
  newEncoded,
  payloadLength,
  roundTrip,
  Semaphore,
  SerializationError,
  SkeinError,
  Tag,
} from 'skein/internal';
import { describe, expect, it } from 'vitest';

/** What a reader does: copy the payload out of shared memory, then decode it. */
function viaBytes(value: unknown): unknown {
  const e = encode(value);
  let bytes: Uint8Array;
  if (e.tag === Tag.Int32) {
    bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setInt32(0, e.num, true);
  } else if (e.tag === Tag.Float64) {
    bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setFloat64(0, e.num, true);
  } else {
    bytes = e.bytes ? e.bytes.slice() : new Uint8Array(0);
  }
  expect(bytes.byteLength).toBe(payloadLength(e));
  return decode(e.tag, bytes, e.sabs);
}

// Everything structuredClone accepts that fast-check's `anything` can build.
const cloneable = fc.anything({
  withBigInt: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withTypedArray: true,
  withSparseArray: true,
  withNullPrototype: true,
  withBoxedValues: true,
  withUnicodeString: true,
});
// Strings of any UTF-16 code units, lone surrogates included (the 'binary' unit never makes them).
const anyString = fc.string({
  unit: fc.oneof(
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
  ),
});

describe('codec fast paths', () => {
  it.each([
    ['undefined', undefined, Tag.Undefined],
    ['null', null, Tag.Null],
    ['true', true, Tag.True],
    ['false', false, Tag.False],
    ['0', 0, Tag.Int32],
    ['-1', -1, Tag.Int32],
    ['int32 max', 2 ** 31 - 1, Tag.Int32],
    ['int32 min', -(2 ** 31), Tag.Int32],
    ['2^31', 2 ** 31, Tag.Float64],
    ['-0', -0, Tag.Float64],
    ['NaN', Number.NaN, Tag.Float64],
    ['Infinity', Number.POSITIVE_INFINITY, Tag.Float64],
    ['0.1', 0.1, Tag.Float64],
    ['empty string', '', Tag.String],
    ['unicode', 'héllo ✓ 𝄞', Tag.String],
    ['Uint8Array', new Uint8Array([1, 2, 3]), Tag.Bytes],
    ['ArrayBuffer', new Uint8Array([9, 8]).buffer, Tag.ArrayBuffer],
  ])('%s takes its fast path and round-trips', (_name, value, tag) => {
    expect(encode(value).tag).toBe(tag);
    expect(roundTrip(value)).toStrictEqual(structuredClone(value));
    expect(viaBytes(value)).toStrictEqual(structuredClone(value));
  });

  it('keeps -0 and NaN exactly', () => {
    expect(Object.is(viaBytes(-0), -0)).toBe(true);
    expect(Number.isNaN(viaBytes(Number.NaN))).toBe(true);
  });

  it('a Buffer comes back as a Buffer with the same bytes', () => {
    const b = Buffer.from('some bytes');
    expect(encode(b).tag).toBe(Tag.Buffer);
    const out = viaBytes(b) as Buffer;
    expect(Buffer.isBuffer(out)).toBe(true);
    expect(out.equals(b)).toBe(true);
  });

  it('roundTrip of a Buffer is a copy, not a view over the original memory', () => {
    const b = Buffer.from('some bytes');
    const back = roundTrip(b);
    expect(back.equals(b)).toBe(true);
    back[0] = 0x21;
    expect(b.toString()).toBe('some bytes');
  });

  it('a view into part of a buffer carries only its own bytes', () => {
    const whole = new Uint8Array([0, 1, 2, 3, 4, 5]);
    const part = whole.subarray(2, 4);
    expect(Array.from(viaBytes(part) as Uint8Array)).toEqual([2, 3]);
    expect(Array.from(roundTrip(Buffer.from(whole.buffer, 1, 2)))).toEqual([1, 2]);
  });

  it('reuses the Encoded it is given and clears what the last value left', () => {
    const out = newEncoded();
    encode('abc', out);
    expect(out.bytes).not.toBeNull();
    expect(encode(5, out)).toBe(out);
    expect(out).toMatchObject({ tag: Tag.Int32, num: 5, bytes: null, sabs: null });
  });

  it('every number round-trips through its bytes', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.double()), (n) => {
        expect(Object.is(viaBytes(n), n) || (Number.isNaN(n) && Number.isNaN(viaBytes(n)))).toBe(true);
      }),
    );
  });

  it('every string round-trips, lone surrogates included', () => {
    fc.assert(
      fc.property(anyString, (s) => {
        expect(viaBytes(s)).toBe(s);
        expect(roundTrip(s)).toBe(s);
      }),
    );
  });

  it('every byte array round-trips', () => {
    fc.assert(
      fc.property(fc.uint8Array(), (b) => {
        expect(viaBytes(b)).toStrictEqual(structuredClone(b));
        expect(roundTrip(b.buffer)).toStrictEqual(structuredClone(b.buffer));
      }),
    );
  });
});

describe('codec: everything else goes through v8.serialize', () => {
  it('any cloneable value round-trips like structuredClone', () => {
    fc.assert(
      fc.property(cloneable, (v) => {
        expect(roundTrip(v)).toStrictEqual(structuredClone(v));
        expect(viaBytes(v)).toStrictEqual(structuredClone(v));
      }),
      { numRuns: 300 },
    );
  });

  it('a huge sparse array is checked by its elements, not index by index over its length', { timeout: 10_000 }, () => {
    // structuredClone takes it in microseconds; a walk over 2^32 - 1 indexes took minutes.
    const a: unknown[] = [];
    a[2 ** 32 - 2] = 'last';
    a[5] = 'fifth';
    const back = roundTrip(a);
    expect(back.length).toBe(2 ** 32 - 1);
    expect(Object.keys(back)).toEqual(['5', String(2 ** 32 - 2)]);
    expect(back[2 ** 32 - 2]).toBe('last');
    const bad: unknown[] = [1];
    bad[2 ** 32 - 2] = () => 1;
    expect(() => encode(bad)).toThrow(SerializationError);
    expect(() => encode(bad)).toThrow(`value[${2 ** 32 - 2}] cannot be copied`);
    // beside shared memory (the general path rebuilds its arrays)
    const sab = new SharedArrayBuffer(4);
    const withSab = roundTrip({ sab, a });
    expect(withSab.sab).toBe(sab);
    expect(Object.keys(withSab.a)).toEqual(['5', String(2 ** 32 - 2)]);
  });

  it('keeps cycles, Maps, Sets, Dates, RegExps, BigInts and Errors', () => {
    const o: Record<string, unknown> = {
      m: new Map([[1, { s: new Set(['a']) }]]),
      d: new Date(5),
      r: /x+/gi,
    };
    o.self = o;
    o.big = 2n ** 70n;
    o.err = new RangeError('bad', { cause: 'why' });
    const back = roundTrip(o) as typeof o;
    expect(back.self).toBe(back);
    expect(back).toStrictEqual(structuredClone(o));
    expect(back.err).toBeInstanceOf(RangeError);
  });
});

describe('codec: shared memory inside values', () => {
  it('a SharedArrayBuffer and views over it come back over the same memory (both encodings)', () => {
    // Plain data beside the buffer takes the plain codec's shared format; a Date, a Map, a
    // sparse array... make it decline to v8.serialize. `cloneable` gives both.
    const tags = new Set<number>();
    fc.assert(
      fc.property(cloneable, fc.nat(6), fc.nat(3), (data, off, len) => {
        const sab = new SharedArrayBuffer(64);
        const i32 = new Int32Array(sab, off * 4, len + 1);
        const dv = new DataView(sab, off, 8);
        const value = { data, sab, list: [i32, { deep: dv }], again: sab };
        const e = encode(value);
        expect(carriesSabs(e.tag)).toBe(true);
        tags.add(e.tag);
        expect(e.sabs).toEqual([sab]);
        const back = viaBytes(value) as typeof value;
        expect(back.data).toStrictEqual(structuredClone(data));
        expect(back.sab).toBe(sab);
        expect(back.again).toBe(sab);
        const v2 = back.list[0] as Int32Array;
        expect(v2).toBeInstanceOf(Int32Array);
        expect([v2.buffer, v2.byteOffset, v2.length]).toEqual([sab, off * 4, len + 1]);
        const d2 = (back.list[1] as { deep: DataView }).deep;
        expect([d2.buffer, d2.byteOffset, d2.byteLength]).toEqual([sab, off, 8]);
        Atomics.store(v2, 0, 1234);
        expect(Atomics.load(i32, 0)).toBe(1234);
      }),
      { numRuns: 100 },
    );
    expect([...tags].sort()).toEqual([Tag.V8Shared, Tag.PlainShared]);
  });

  it('an own key named __proto__ stays a key beside shared memory (it does not set the prototype)', () => {
    const data = JSON.parse('{"__proto__": {"x": 1}, "a": 1}') as Record<string, unknown>;
    const sab = new SharedArrayBuffer(8);
    const back = viaBytes({ data, sab }) as { data: Record<string, unknown>; sab: SharedArrayBuffer };
    expect(back.sab).toBe(sab);
    expect(Object.getPrototypeOf(back.data)).toBe(Object.prototype);
    expect(Object.keys(back.data)).toEqual(['__proto__', 'a']);
    expect(Object.getOwnPropertyDescriptor(back.data, '__proto__')?.value).toEqual({ x: 1 });
  });

  it('a Uint8Array or Buffer over a SharedArrayBuffer stays shared, like structuredClone', () => {
    const sab = new SharedArrayBuffer(16);
    const u8 = new Uint8Array(sab, 4, 8);
    const back = roundTrip(u8);
    expect(back).toBeInstanceOf(Uint8Array);
    expect([back.buffer, back.byteOffset, back.length]).toEqual([sab, 4, 8]);
    const buf = Buffer.from(sab, 2, 4);
    const bb = roundTrip(buf);
    expect(Buffer.isBuffer(bb)).toBe(true);
    expect([bb.buffer, bb.byteOffset, bb.length]).toEqual([sab, 2, 4]);
    bb[0] = 77;
    expect(new Uint8Array(sab)[2]).toBe(77);
  });

  it.each([
    ['plain data', Tag.PlainShared, {}],
    ['a Date beside them', Tag.V8Shared, { when: new Date(0) }],
  ])('views over shared memory with no bare SharedArrayBuffer beside them stay shared (%s)', (_name, tag, more) => {
    const sab = new SharedArrayBuffer(16);
    const v = { i32: new Int32Array(sab, 8, 2), dv: [new DataView(sab)], f64: new Float64Array(sab), ...more };
    const e = encode(v);
    expect(e.tag).toBe(tag);
    const back = viaBytes(v) as typeof v;
    expect(back.i32.buffer).toBe(sab);
    expect([back.i32.byteOffset, back.i32.length]).toEqual([8, 2]);
    expect(back.dv[0].buffer).toBe(sab);
    expect(back.f64.buffer).toBe(sab);
    back.i32[0] = 42;
    expect(v.i32[0]).toBe(42);
    // Unshared views beside them are still copies, like structuredClone makes.
    const plain = new Uint16Array([1, 2, 3]);
    const mixed = roundTrip({ i32: v.i32, plain });
    expect(mixed.plain).toStrictEqual(plain);
    expect(mixed.plain).not.toBe(plain);
  });

  it('boxed primitives beside a SharedArrayBuffer keep their values', () => {
    const sab = new SharedArrayBuffer(8);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- boxed primitives on purpose
    const v = { sab, n: new (Number as any)(5), s: new (String as any)('x'), b: new (Boolean as any)(false) };
    const back = roundTrip(v);
    expect(back.sab).toBe(sab);
    expect({ ...back, sab: null }).toStrictEqual(structuredClone({ ...v, sab: null }));
  });

  it('a shared object inside a value comes back as the same live object', () => {
    const sem = new Semaphore(3);
    const back = roundTrip({ list: [sem], sem });
    expect(back.sem).toBe(sem);
    expect(back.list[0]).toBe(sem);
  });
});

/** A buffer transferred away, and views over it (their length reads 0 now). */
function detached(): { ab: ArrayBuffer; u8: Uint8Array; buf: Buffer } {
  const ab = new ArrayBuffer(8);
  const u8 = new Uint8Array(ab);
  const buf = Buffer.from(ab);
  structuredClone(ab, { transfer: [ab] });
  return { ab, u8, buf };
}

describe('codec errors', () => {
  it.each([
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['a function inside an object', { f: Math.max }],
    ['a symbol inside an array', [1, Symbol('s')]],
    ['a WeakMap', new WeakMap()],
    ['a Promise', Promise.resolve(1)],
    ['a function beside a SharedArrayBuffer', { sab: new SharedArrayBuffer(4), f: () => 1 }],
    // transferred away: structured clone refuses them, rather than send them empty
    ['a detached ArrayBuffer', detached().ab],
    ['a Uint8Array over a detached buffer', detached().u8],
    ['a Buffer over a detached buffer', detached().buf],
  ])('%s cannot be encoded: SerializationError', (_name, value) => {
    let err: unknown;
    try {
      encode(value);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SerializationError);
    expect(err).toBeInstanceOf(SkeinError);
    expect((err as Error).name).toBe('SerializationError');
    expect(() => roundTrip(value)).toThrow(SerializationError);
  });

  it('an unknown tag is CorruptMemoryError', () => {
    for (const tag of [-1, 12, 99, 255]) {
      expect(() => decode(tag, new Uint8Array(0))).toThrow(CorruptMemoryError);
    }
  });

  it('a payload whose length does not fit its tag is CorruptMemoryError', () => {
    expect(() => decode(Tag.Int32, new Uint8Array(3))).toThrow(CorruptMemoryError);
    expect(() => decode(Tag.Int32, new Uint8Array(8))).toThrow(CorruptMemoryError);
    expect(() => decode(Tag.Float64, new Uint8Array(4))).toThrow(CorruptMemoryError);
    expect(() => decode(Tag.V8, new Uint8Array(0))).toThrow(CorruptMemoryError);
  });

  it('a truncated or garbled serialized value is CorruptMemoryError', () => {
    const e = encode({ a: [1, 2, 3], s: 'x'.repeat(100) });
    const bytes = e.bytes!;
    expect(() => decode(Tag.V8, bytes.slice(0, bytes.length - 10))).toThrow(CorruptMemoryError);
    expect(() => decode(Tag.V8, bytes.slice(0, 3))).toThrow(CorruptMemoryError);
  });

  it('random bytes under a serialized tag decode or fail with CorruptMemoryError, nothing else', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.constantFrom(Tag.V8, Tag.V8Shared, Tag.PlainShared),
        fc.constantFrom([], [new SharedArrayBuffer(16)]),
        (bytes, tag, sabs) => {
          try {
            decode(tag, bytes, sabs);
          } catch (err) {
            expect(err).toBeInstanceOf(CorruptMemoryError);
          }
        },
      ),
    );
  });

  it.each([
    ['plain data', Tag.PlainShared, {}],
    ['a Date beside them', Tag.V8Shared, { when: new Date(0) }],
  ])('a value with shared buffers that arrives without them is CorruptMemoryError (%s)', (_name, tag, more) => {
    const sab = new SharedArrayBuffer(4);
    const e = encode({ sab, also: new SharedArrayBuffer(4), ...more });
    expect(e.tag).toBe(tag);
    expect(() => decode(e.tag, e.bytes!.slice())).toThrow(CorruptMemoryError);
    expect(() => decode(e.tag, e.bytes!.slice(), [sab])).toThrow(/shared buffer #1 is missing/);
  });
});
