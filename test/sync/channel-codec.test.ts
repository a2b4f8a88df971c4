import { execFile } from 'node:child_process';
import fc from 'fast-check';
import { Channel, CorruptMemoryError } from 'skein';
import { describe, expect, it } from 'vitest';

const DATA_OFFSET = 2048;

/** Sends `v` through a fresh channel and returns what arrives. */
function through<T>(v: T, bytes?: number): T {
  const ch = new Channel<T>({ capacity: 2, bytes });
  expect(ch.trySend(v)).toBe(true);
  const r = ch.tryRecv();
  if (!r?.ok) throw new Error('nothing arrived');
  return r.value;
}

/** What arrives must equal the structured clone, key order included. */
function expectClone(v: unknown): void {
  const got = through(v);
  const want = structuredClone(v);
  expect(got).toStrictEqual(want);
  expect(JSON.stringify(got)).toBe(JSON.stringify(want));
}

describe('channel messages keep structured-clone semantics', () => {
  it('JSON-like values of every shape (property test against structuredClone)', () => {
    const leaf = fc.oneof(
      fc.integer(),
      fc.double(),
      fc.constantFrom(0, -0, Number.NaN, 2 ** 31, -(2 ** 31), 2 ** 53),
      fc.string(),
      fc.string({ unit: 'grapheme', maxLength: 80 }),
      fc.string({ minLength: 40, maxLength: 300 }),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
    );
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, leaf, tie('arr'), tie('obj')),
      arr: fc.array(tie('node'), { maxLength: 8 }),
      obj: fc.dictionary(
        fc.oneof(fc.string(), fc.constantFrom('0', '10', 'a', 'ü', 'toString')),
        tie('node'),
        {
          maxKeys: 8,
        },
      ),
    })).node;
    fc.assert(
      fc.property(value, (v) => {
        const got = through(v, 1 << 16);
        expect(got).toStrictEqual(structuredClone(v));
        if (typeof v === 'number') expect(Object.is(got, v)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('objects of many keys, long strings, deep nesting', () => {
    expectClone(Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i])));
    expectClone({ s: 'é'.repeat(10_000), t: 'x'.repeat(70_000) });
    let deep: unknown = { leaf: 1 };
    for (let i = 0; i < 200; i++) deep = { d: [deep] };
    expectClone(deep);
    expectClone({ a: [1.5, -0, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 40] });
  });

  it('keeps what only structured clone keeps: shared references, cycles, null-prototype shapes', () => {
    const shared = { x: 1 };
    const got = through({ a: shared, b: shared });
    expect(got.a).toBe(got.b);
    const cyc: Record<string, unknown> = { name: 'c' };
    cyc.self = cyc;
    const back = through(cyc);
    expect(back.self).toBe(back);
    const arrCyc: unknown[] = [1];
    arrCyc.push(arrCyc);
    const arrBack = through(arrCyc);
    expect(arrBack[1]).toBe(arrBack);
    const withProtoKey = JSON.parse('{"__proto__": {"polluted": true}, "b": 2}');
    const p = through(withProtoKey);
    expect(Object.keys(p)).toEqual(['__proto__', 'b']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const holey = [1, 2, 3];
    delete holey[1];
    expect(through(holey)).toStrictEqual(structuredClone(holey));
    expect(1 in through(holey)).toBe(false);
    expectClone({ d: new Date(3), m: new Map([[1, 2]]), u: new Uint8Array([1]) });
    expect(Object.getPrototypeOf(through(Object.assign(Object.create(null), { a: 1 })))).toBe(
      Object.prototype,
    );
  });

  it('named properties of an array are dropped (the one documented difference)', () => {
    const a = Object.assign([1, 2], { extra: 'x' });
    expect(through(a)).toEqual([1, 2]);
    expect((through(a) as unknown as { extra?: string }).extra).toBeUndefined();
  });

  it('an inherited enumerable key on Object.prototype sends the value the general way', () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.injected = 1;
    try {
      expect(Object.keys(through({ a: 1 }))).toEqual(['a']);
    } finally {
      delete proto.injected;
    }
  });

  it('corrupt plain-coded bytes are CorruptMemoryError', () => {
    for (const [at, byte] of [
      [8, 0xee], // unknown type of the top value
      [9, 0x7f], // object count far past the bytes
      [10, 0x09], // a key that is not a string
    ]) {
      const ch = new Channel<unknown>({ capacity: 2, bytes: 1024 });
      ch.trySend({ a: 1, b: 'two' });
      new Uint8Array(ch.handle.sab, DATA_OFFSET)[at] = byte;
      expect(() => ch.tryRecv()).toThrow(CorruptMemoryError);
    }
  });

  it('decodes the same where code generation from strings is disallowed (no compiled readers or shapes)', async () => {
    // every ASCII length a compiled reader covers (0..16), the split lengths up to 32, a long one,
    // and objects of one shape several times (a shape gets its factory at its second object)
    const script = `
      import { Channel } from 'skein';
      const ch = new Channel({ capacity: 4 });
      const alpha = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ';
      const values = [];
      for (let n = 0; n <= 40; n++) values.push({ [alpha.slice(0, n) || 'k']: alpha.slice(n % 7, n % 7 + n), n });
      for (let i = 0; i < 3; i++) values.push({ id: i, name: 'item-' + i, tags: ['red', 'green'] });
      const bad = values.filter((v) => { ch.trySend(v); return JSON.stringify(ch.tryRecv().value) !== JSON.stringify(v); });
      console.log(bad.length === 0 ? 'same' : JSON.stringify(bad));
    `;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--disallow-code-generation-from-strings', '--input-type=module', '-e', script],
        { timeout: 15_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      ),
    );
    expect(out.trim()).toBe('same');
  });
});
