import {
  adopt,
  fromHandle,
  handleOf,
  InvalidArgumentError,
  Mutex,
  newSharedId,
  registerSharedKind,
  reviveDeep,
  Semaphore,
  type SharedHandle,
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

  it('from() of a handle whose memory has the wrong size is InvalidArgumentError', () => {
    for (const bytes of [0, 4, 64]) {
      const h = { kind: 'Semaphore', id: newSharedId(), sab: new SharedArrayBuffer(bytes) };
      expect(() => Semaphore.from(h)).toThrow(InvalidArgumentError);
      expect(() => Mutex.from({ ...h, kind: 'Mutex' })).toThrow(InvalidArgumentError);
      expect(() => WaitGroup.from({ ...h, kind: 'WaitGroup' })).toThrow(InvalidArgumentError);
    }
  });

  it('Mutex.from and WaitGroup.from refuse other kinds', () => {
    expect(() => Mutex.from(new Semaphore(1))).toThrow(/handle of a Semaphore/);
    expect(() => WaitGroup.from(new Mutex().handle)).toThrow(InvalidArgumentError);
    expect(() => handleOf({ handle: new Mutex().handle }, 'WaitGroup')).toThrow(InvalidArgumentError);
  });
});

describe('the handle protocol', () => {
  class Box {
    readonly handle: SharedHandle;
    constructor(handle?: SharedHandle) {
      this.handle = handle ?? { kind: 'TestBox', id: newSharedId(), sab: new SharedArrayBuffer(4) };
      if (!handle) adopt(this);
    }
    static from(x: unknown): Box {
      return fromHandle(handleOf(x, 'TestBox'), (h) => new Box(h));
    }
  }
  registerSharedKind('TestBox', (h) => Box.from(h));

  it('ids are unique', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newSharedId()));
    expect(ids.size).toBe(1000);
  });

  it('a handle of a kind not yet seen here is built once, then reused', () => {
    const h = { kind: 'TestBox', id: newSharedId(), sab: new SharedArrayBuffer(4) };
    const a = Box.from(h);
    expect(a).toBeInstanceOf(Box);
    expect(Box.from({ handle: { ...h } })).toBe(a);
  });

  it('reviveDeep replaces clones inside arrays, objects, Maps and Sets; unknown kinds stay as they are', () => {
    const box = new Box();
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

  it('reviveDeep follows cycles once', () => {
    const sem = new Semaphore(1);
    const o: Record<string, unknown> = { sem };
    o.self = o;
    const v = reviveDeep(structuredClone(o)) as typeof o;
    expect(v.self).toBe(v);
    expect(v.sem).toBe(sem);
  });
});
