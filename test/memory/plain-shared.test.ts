// The plain codec's shared-memory format (codec tag PlainShared, plain-format.ts codes 10-12): what
// `encode` gives a value holding shared memory at its top level, such as a pool task's `{ i, sem }`.
import fc from 'fast-check';
import {
  CorruptMemoryError,
  decode,
  encode,
  InvalidArgumentError,
  newSharedId,
  Semaphore,
  Tag,
} from 'skein/internal';
import { describe, expect, it } from 'vitest';
import { countedChecks, CountedBox } from '../fixtures/counted-kind.mjs';

/** What a reader on another thread does: copy the bytes out, decode them with the buffer list. */
function across<T>(value: T): T {
  const e = encode(value);
  return decode(e.tag, (e.bytes as Uint8Array).slice(), e.sabs) as T;
}

/** The clone of `obj` as a thread that never saw it receives it: its handle under an id new here. */
function foreignClone(obj: { handle: object }): { handle: object } {
  return { handle: { ...obj.handle, id: newSharedId() } };
}

describe('codec: the plain codec carries shared memory (tag PlainShared)', () => {
  it('a task input holding a shared object is a few dozen bytes, not v8.serialize output', () => {
    const sem = new Semaphore(4);
    const e = encode({ i: 7, sem });
    expect(e.tag).toBe(Tag.PlainShared);
    expect(e.sabs).toEqual([sem.handle.sab]);
    // v8.serialize wrote ~110 bytes for this; the handle here is its kind, id and config, copied.
    expect((e.bytes as Uint8Array).byteLength).toBeLessThan(80);
    expect(encode({ i: 7, sem }).bytes).toEqual(e.bytes); // the handle's bytes come from a cache
    const back = across({ i: 7, sem });
    expect(back.i).toBe(7);
    expect(back.sem).toBe(sem); // this thread's live object
  });

  it('shared memory one object down (a chain batch carrying its spec) takes this format too, not v8.serialize', () => {
    const sem = new Semaphore(2);
    const stats = new SharedArrayBuffer(64);
    const value = { b: [{ v: 'line', k: 0 }], s: { stats, hists: [stats], gates: [null, sem], fns: ['a', 'b'] } };
    const e = encode(value);
    expect(e.tag).toBe(Tag.PlainShared);
    expect(e.sabs).toContain(stats);
    const back = across(value);
    expect(back.b).toEqual(value.b);
    expect(back.s.stats).toBe(stats);
    expect(back.s.hists[0]).toBe(stats);
    expect(back.s.gates[1]).toBe(sem);
    expect(back.s.fns).toEqual(['a', 'b']);
    // Three levels down is past the probe: the general path still carries it, by v8.serialize.
    const deep = { a: { b: { c: stats } } };
    expect(encode(deep).tag).toBe(Tag.V8Shared);
    expect(across(deep).a.b.c).toBe(stats);
  });

  it('a shared object new to this thread is checked and built once, then the same object comes back', () => {
    const box = new CountedBox(2);
    const clone = foreignClone(box);
    const before = countedChecks();
    const first = across({ i: 1, box: clone }).box;
    expect(first).toBeInstanceOf(CountedBox);
    expect(first).not.toBe(box);
    expect((first as CountedBox).handle.sab).toBe(box.handle.sab);
    for (let i = 0; i < 50; i++) expect(across({ i, box: clone }).box).toBe(first);
    expect(CountedBox.from(clone)).toBe(first); // X.from agrees: one live object per id
    expect(countedChecks() - before).toBe(1);
  });

  it('shared objects over different buffers arrive as themselves, each once however often it appears', () => {
    const a = new CountedBox(1);
    const b = new CountedBox(3);
    const sem = new Semaphore(1);
    const back = across({ a, b, list: [b, a, sem], sem });
    expect(back.a).toBe(a);
    expect(back.b).toBe(b);
    expect(back.list).toEqual([b, a, sem]);
    expect(back.list[0]).toBe(b);
    expect(back.sem).toBe(sem);
    expect(encode({ a, b, list: [b, a, sem], sem }).sabs).toEqual([a.handle.sab, b.handle.sab, sem.handle.sab]);
  });

  it('views keep their type, buffer, offset and length: subarrays, several views of one buffer, Buffer, DataView', () => {
    const sab = new SharedArrayBuffer(64);
    const whole = new Int32Array(sab);
    const sub = whole.subarray(3, 7);
    const v = {
      whole,
      sub,
      f64: new Float64Array(sab, 8, 2),
      big: new BigInt64Array(sab, 48, 2),
      u8: new Uint8Array(sab, 5, 3),
      buf: Buffer.from(sab, 1, 9),
      dv: new DataView(sab, 2, 30),
      sab,
    };
    const e = encode(v);
    expect(e.tag).toBe(Tag.PlainShared);
    expect(e.sabs).toEqual([sab]);
    const back = across(v);
    for (const k of ['whole', 'sub', 'f64', 'big', 'u8', 'dv'] as const) {
      expect(Object.getPrototypeOf(back[k])).toBe(Object.getPrototypeOf(v[k]));
      expect([back[k].buffer, back[k].byteOffset, back[k].byteLength]).toEqual([sab, v[k].byteOffset, v[k].byteLength]);
      expect(back[k]).not.toBe(v[k]); // a fresh view, as structured clone makes
    }
    expect(Buffer.isBuffer(back.buf)).toBe(true);
    expect([back.buf.buffer, back.buf.byteOffset, back.buf.length]).toEqual([sab, 1, 9]);
    expect(back.sab).toBe(sab);
    back.sub[0] = 99;
    expect(whole[3]).toBe(99);
  });

  it('round-trips JSON-like data beside shared memory as structured clone does (property)', () => {
    const sem = new Semaphore(2);
    const sab = new SharedArrayBuffer(32);
    const json = fc.jsonValue();
    fc.assert(
      fc.property(json, fc.nat(7), fc.nat(3), (data, off, len) => {
        const view = new Uint16Array(sab, off * 2, len);
        const value = { data, view, deep: [{ sem }, { sab }] };
        const e = encode(value);
        const back = across(value);
        expect(back.data).toStrictEqual(structuredClone(data));
        expect([back.view.buffer, back.view.byteOffset, back.view.length]).toEqual([sab, off * 2, len]);
        expect(back.deep[0].sem).toBe(sem);
        expect(back.deep[1].sab).toBe(sab);
        // JSON from fast-check may hold a key named __proto__: that one takes v8.serialize.
        expect([Tag.PlainShared, Tag.V8Shared]).toContain(e.tag);
      }),
      { numRuns: 200 },
    );
  });

  it('encodings kept while many more are made stay intact, whatever their size (copies share a slab)', () => {
    const sem = new Semaphore(1);
    const sizes = [0, 10, 60, 100, 500, 1000, 3000];
    const kept = Array.from({ length: 600 }, (_, i) => {
      const value = { i, sem, s: 'x'.repeat(sizes[i % sizes.length]) };
      return { value, e: encode(value) };
    });
    for (const { value, e } of kept) {
      expect(e.tag).toBe(Tag.PlainShared);
      expect(decode(e.tag, e.bytes as Uint8Array, e.sabs)).toEqual(value);
    }
  });

  it('declines, to v8.serialize, what it cannot carry exactly', () => {
    const sab = new SharedArrayBuffer(16);
    const i32 = new Int32Array(sab);
    for (const v of [
      { sab, copy: new Int32Array(4) }, // a view over unshared memory is a copy
      { sab, when: new Date(5) },
    ]) {
      expect(encode(v).tag).toBe(Tag.V8Shared);
    }
    const back = across({ sab, copy: new Int32Array([1, 2]) });
    expect(back.sab).toBe(sab);
    expect(back.copy).toStrictEqual(new Int32Array([1, 2]));
    // One view met twice arrives as two views over the same memory, on either path.
    for (const v of [{ i32, again: i32 }, { i32, again: i32, when: new Date(5) }]) {
      const twice = across(v);
      expect(twice.i32).not.toBe(twice.again);
      expect([twice.again.buffer, twice.again.byteOffset, twice.again.length]).toEqual([sab, 0, 4]);
    }
  });

  it('an unknown kind arrives as its clone; a forged one is a named error, as on the general path', () => {
    const unknown = { handle: { kind: 'NoSuchKind', id: 'z', sab: new SharedArrayBuffer(8), config: { n: 1 } } };
    const back = across({ i: 0, unknown });
    expect(back.unknown).toEqual(unknown);
    expect(back.unknown.handle.sab).toBe(unknown.handle.sab);
    const forged = { handle: { kind: 'Semaphore', id: newSharedId(), sab: new SharedArrayBuffer(64), config: {} } };
    expect(encode({ forged }).tag).toBe(Tag.PlainShared);
    expect(() => across({ forged })).toThrow(InvalidArgumentError);
  });

  it('a handle whose config holds shared memory is written afresh each time (its indexes are per value)', () => {
    const cfgSab = new SharedArrayBuffer(8);
    const clone = { handle: { kind: 'NoSuchKind', id: newSharedId(), sab: new SharedArrayBuffer(8), config: { buf: cfgSab } } };
    const other = new SharedArrayBuffer(8);
    expect(across({ h: clone }).h.handle.config.buf).toBe(cfgSab); // h.sab is #0, cfgSab #1
    const back = across({ other, h: clone }); // other is #0 now, h.sab #1, cfgSab #2
    expect(back.other).toBe(other);
    expect(back.h.handle.sab).toBe(clone.handle.sab);
    expect(back.h.handle.config.buf).toBe(cfgSab);
  });

  it('bytes naming a buffer that did not come with them are CorruptMemoryError', () => {
    const e = encode({ a: new SharedArrayBuffer(4), b: new Semaphore(1) });
    const bytes = (e.bytes as Uint8Array).slice();
    expect(() => decode(Tag.PlainShared, bytes)).toThrow(/arrived without them/);
    expect(() => decode(Tag.PlainShared, bytes, [new SharedArrayBuffer(4)])).toThrow(/shared buffer #1 is missing/);
    // A view that does not fit the buffer it names.
    const v = encode({ v: new Int32Array(new SharedArrayBuffer(64), 16, 8) });
    expect(() => decode(Tag.PlainShared, (v.bytes as Uint8Array).slice(), [new SharedArrayBuffer(16)])).toThrow(
      CorruptMemoryError,
    );
  });
});
