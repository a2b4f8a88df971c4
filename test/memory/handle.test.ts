import {
  CorruptMemoryError,
  defineSharedKind,
  InvalidArgumentError,
  isReopen,
  Mutex,
  newSharedId,
  newView,
  type Reopen,
  reviveDeep,
  Semaphore,
  SharedObjectBase,
  TAG_BYTES,
  WaitGroup,
} from 'skein/internal';
import { describe, expect, it } from 'vitest';
import { runOp } from '../fixtures/sync-run.js';

describe('shared objects', () => {
  it.each([
    ['Semaphore', () => new Semaphore(2)],
    ['Mutex', () => new Mutex()],
    ['WaitGroup', () => new WaitGroup()],
  ])('a %s has exactly one own enumerable property, handle, and its clone is { handle }', (kind, make) => {
    const obj = make();
    expect(Object.keys(obj)).toEqual(['handle']);
    expect(obj.handle.kind).toBe(kind);
    expect(obj.handle.sab).toBeInstanceOf(SharedArrayBuffer);
    const clone = structuredClone(obj);
    expect(Object.keys(clone)).toEqual(['handle']);
    expect(clone.handle.id).toBe(obj.handle.id);
  });

  it('in one thread, from() of the object, its clone or its handle is the object itself, every time', () => {
    const sem = new Semaphore(3);
    expect(Semaphore.from(sem)).toBe(sem);
    expect(Semaphore.from(structuredClone(sem))).toBe(sem);
    expect(Semaphore.from(sem.handle)).toBe(sem);
    expect(Semaphore.from(structuredClone(sem.handle))).toBe(sem);
    const m = new Mutex();
    expect(Mutex.from(structuredClone(m))).toBe(m);
    const wg = new WaitGroup();
    expect(WaitGroup.from(structuredClone(wg.handle))).toBe(wg);
  });

  it('crosses to a worker through workerData: rebuilt from the clone and from the handle, the same object', async () => {
    const sem = new Semaphore(5);
    const r = await runOp<{
      same: boolean;
      permits: number;
      seenAvailable: number;
      wrongKind: string;
      keys: string[];
    }>('fromCheck', { sem });
    expect(r).toEqual({
      same: true,
      permits: 5,
      seenAvailable: 4,
      wrongKind: 'InvalidArgumentError',
      keys: ['handle'],
    });
    expect(sem.available).toBe(5);
  });

  const sab = () => new SharedArrayBuffer(8);
  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a number', 42],
    ['a string', 'Semaphore'],
    ['an empty object', {}],
    ['an empty handle', { handle: {} }],
    ['a handle without a SharedArrayBuffer', { kind: 'Semaphore', id: 'x', sab: new ArrayBuffer(8) }],
    ['a handle without an id', { kind: 'Semaphore', sab: sab() }],
    ['a handle of another kind', { kind: 'Mutex', id: 'y', sab: sab() }],
    ['a Mutex', new Mutex()],
    ['a WaitGroup', new WaitGroup()],
  ])('Semaphore.from(%s) is InvalidArgumentError', (_name, junk) => {
    expect(() => Semaphore.from(junk)).toThrow(InvalidArgumentError);
  });

  it('from() of a handle whose memory has the wrong size, kind or tag is a named error', () => {
    for (const bytes of [0, 4, 64, 4120, 4136]) {
      const h = { kind: 'Semaphore', id: newSharedId(), sab: new SharedArrayBuffer(bytes), config: { permits: 1 } };
      expect(() => Semaphore.from(h)).toThrow(InvalidArgumentError);
      expect(() => Mutex.from({ ...h, kind: 'Mutex', config: {} })).toThrow(InvalidArgumentError);
      expect(() => WaitGroup.from({ ...h, kind: 'WaitGroup', config: {} })).toThrow(InvalidArgumentError);
    }
    // A Mutex's memory has a Semaphore's size: its tag block tells them apart.
    const m = new Mutex();
    expect(() => Semaphore.from({ ...m.handle, kind: 'Semaphore', id: newSharedId(), config: { permits: 1 } })).toThrow(
      /the memory of a Mutex/,
    );
    // The right kind and size, but a tag block that contradicts the buffer, or a damaged fixed word.
    const sem = new Semaphore(2);
    const damaged = (at: number, value: number): unknown => {
      const sab = new SharedArrayBuffer(sem.handle.sab.byteLength);
      new Uint8Array(sab).set(new Uint8Array(sem.handle.sab));
      new Int32Array(sab)[at] = value;
      return { ...sem.handle, id: newSharedId(), sab };
    };
    const last = sem.handle.sab.byteLength / 4 - 1;
    expect(() => Semaphore.from(damaged(last, 8))).toThrow(CorruptMemoryError); // BYTES
    expect(() => Semaphore.from(damaged(last - 1, 99))).toThrow(/layout version 99/);
    expect(() => Semaphore.from(damaged(3, 3))).toThrow(CorruptMemoryError); // MAX: 3 permits, config says 2
    expect(() => Semaphore.from({ ...sem.handle, id: newSharedId(), config: { permits: 3 } })).toThrow(
      CorruptMemoryError,
    );
    expect(() => Semaphore.from({ ...sem.handle, id: newSharedId(), config: { permits: -1 } })).toThrow(
      /configuration is bad: Expected permits to be an integer >= 0, got -1/,
    );
  });

  it('the memory ends in its tag block', () => {
    const sem = new Semaphore(1);
    const n = sem.handle.sab.byteLength;
    expect(new Int32Array(sem.handle.sab, n - TAG_BYTES, 4)).toEqual(new Int32Array([0x534b4e31, 1, 1, n]));
  });

  it('Mutex.from and WaitGroup.from refuse other kinds', () => {
    expect(() => Mutex.from(new Semaphore(1))).toThrow(/handle of a Semaphore/);
    expect(() => WaitGroup.from(new Mutex().handle)).toThrow(InvalidArgumentError);
    // Another kind's handle relabelled, carrying the id of a live object of that kind.
    const m = new Mutex();
    expect(() => WaitGroup.from({ ...m.handle, kind: 'WaitGroup' })).toThrow(/the id of a Mutex/);
  });

  it('public constructors take options only: a handle is not mistaken for one', () => {
    const sem = new Semaphore(1);
    expect(() => new Semaphore(sem.handle as never)).toThrow(/Expected Semaphore permits|Expected permits/);
    expect(() => new Semaphore(null as never)).toThrow(InvalidArgumentError);
    expect(isReopen({ handle: sem.handle })).toBe(false);
  });
});

describe('the handle protocol', () => {
  interface BoxConfig {
    readonly size: number;
  }
  const BOX = defineSharedKind<BoxConfig, Box>({
    name: 'TestBox',
    tag: 100,
    layout: 1,
    checkConfig: (c) => ({ size: (c as BoxConfig).size }),
    bodyBytes: (c) => 4 * c.size,
    make: (r) => new Box(r),
  });
  class Box extends SharedObjectBase<BoxConfig> {
    constructor(size: number | Reopen<BoxConfig>) {
      super(BOX, isReopen(size) ? size : { size });
    }
    static from(x: unknown): Box {
      return BOX.open(x);
    }
  }

  it('ids are unique', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newSharedId()));
    expect(ids.size).toBe(1000);
  });

  it('a handle not yet seen here is built once, then reused; newView builds a separate one', () => {
    const src = new Box(1);
    const h = { ...structuredClone(src.handle), id: newSharedId() };
    const a = Box.from(h);
    expect(a).toBeInstanceOf(Box);
    expect(a).not.toBe(src);
    expect(Box.from({ handle: { ...h } })).toBe(a);
    const v = newView<Box>(h);
    expect(v).toBeInstanceOf(Box);
    expect(v).not.toBe(a);
    expect(v.handle.sab).toBe(h.sab);
  });

  it('a second kind cannot take a tag already taken', () => {
    expect(() =>
      defineSharedKind({
        name: 'OtherBox',
        tag: 100,
        layout: 1,
        checkConfig: () => ({}),
        bodyBytes: () => 4,
        make: () => new Box(1),
      }),
    ).toThrow(/tag 100, which TestBox has/);
  });

  it('reviveDeep replaces clones inside arrays, objects, Maps and Sets; unknown kinds stay as they are', () => {
    const box = new Box(1);
    const sem = new Semaphore(1);
    const unknown = { handle: { kind: 'NoSuchKind', id: 'z', sab: new SharedArrayBuffer(4) } };
    const c = structuredClone({
      a: [box],
      o: { sem, box },
      m: new Map<unknown, unknown>([[box, sem]]),
      s: new Set([sem]),
      unknown,
      notShared: { handle: box.handle, extra: 1 },
    });
    const v = reviveDeep(c) as typeof c;
    expect(v.a[0]).toBe(box);
    expect(v.o.box).toBe(box);
    expect(v.o.sem).toBe(sem);
    expect([...v.m.entries()]).toEqual([[box, sem]]);
    expect([...v.m.keys()][0]).toBe(box);
    expect([...v.s][0]).toBe(sem);
    expect(v.unknown).toEqual(unknown);
    expect(v.notShared).not.toBeInstanceOf(Box); // more than one key: not a shared object's clone
  });

  it('reviveDeep checks what it revives: a forged clone is a named error', () => {
    const forged = { handle: { kind: 'Semaphore', id: newSharedId(), sab: new SharedArrayBuffer(64), config: {} } };
    expect(() => reviveDeep(structuredClone({ forged }))).toThrow(InvalidArgumentError);
  });

  it('reviveDeep follows cycles once', () => {
    const sem = new Semaphore(1);
    const o: Record<string, unknown> = { sem };
    o.self = o;
    const v = reviveDeep(structuredClone(o)) as typeof o;
    expect(v.self).toBe(v);
    expect(v.sem).toBe(sem);
  });
});
