// A value that structured clone would change silently (a class instance loses its prototype, a
// class with private fields arrives as {}) is refused with a SerializationError naming the path.
import { createHash } from 'node:crypto';
import { Channel, SerializationError, WorkerPool } from 'skein';
import { encode } from 'skein/internal';
import { afterAll, describe, expect, it } from 'vitest';

class Point {
  constructor(
    public x: number,
    public y: number,
  ) {}
  norm(): number {
    return Math.hypot(this.x, this.y);
  }
}
class Secret {
  #key = 42;
  get key(): number {
    return this.#key;
  }
}

function caught(fn: () => unknown): SerializationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SerializationError);
    return err as SerializationError;
  }
  throw new Error('expected a SerializationError');
}

describe('values that would not arrive as they are', () => {
  it('a class instance anywhere in a value: SerializationError naming the path and the class', () => {
    const err = caught(() => encode({ items: [1, { at: new Point(1, 2) }] }));
    expect(err.path).toBe('.items[1].at');
    expect(err.message).toContain('value.items[1].at');
    expect(err.message).toContain('class Point');
    expect(caught(() => encode(new Secret())).message).toContain('class Secret');
    expect(caught(() => encode({ h: createHash('sha256') })).message).toMatch(/\.h .*class Hash/);
    expect(caught(() => encode({ 'a b': [() => 1] })).path).toBe('["a b"][0]');
    expect(caught(() => encode(new Map([[1, new Point(0, 0)]]))).path).toBe('.<map value 0>');
  });

  it('what structured clone keeps whole still crosses', () => {
    for (const v of [
      { d: new Date(1), r: /x/g, e: new RangeError('r'), m: new Map([[1, { a: 1 }]]), s: new Set([1]) },
      [new Uint8Array(2), new ArrayBuffer(4), Object.assign(Object.create(null), { a: 1 })],
      { ch: new Channel({ capacity: 1 }) },
    ]) {
      expect(() => encode(v)).not.toThrow();
    }
  });

  it('a channel send of a class instance throws at the sender', () => {
    const ch = new Channel<unknown>({ capacity: 2 });
    expect(() => ch.trySend({ p: new Point(1, 1) })).toThrow(SerializationError);
    expect(ch.length).toBe(0);
  });
});

describe('through a pool', () => {
  const pool = new WorkerPool({ filename: new URL('../fixtures/pool-tasks.mjs', import.meta.url), maxWorkers: 1 });
  afterAll(() => pool.close());

  it('an input holding a class instance rejects at submit, naming the task input and the path', async () => {
    const err = await pool.submit({ list: [new Point(3, 4)] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SerializationError);
    expect((err as Error).message).toContain('task input.list[0]');
  });

  it('a promise in the input (a missing await) says to await it; a function or a symbol input is named the task input', async () => {
    const load = async (): Promise<number> => Promise.resolve(1);
    const nested = await pool.submit({ data: load() }).catch((e: unknown) => e);
    expect(nested).toBeInstanceOf(SerializationError);
    expect((nested as Error).message).toBe(
      'task input.data cannot be copied to another thread: it is a promise (Promise): await it and pass the value it resolves to',
    );
    const top = await pool.submit(load()).catch((e: unknown) => e);
    expect((top as Error).message).toContain('task input cannot be copied to another thread: it is a promise (Promise): await it');
    for (const v of [load, Symbol('s')]) {
      const err = await pool.submit(v).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SerializationError);
      expect((err as Error).message).toMatch(/^task input cannot be copied to another thread: it is (function load|Symbol\(s\))$/);
    }
  });

  it('a result holding a class instance rejects with SerializationError naming the task result', async () => {
    const err = await pool.submit(null, { fn: 'classInstance' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SerializationError);
    expect((err as Error).message).toContain('task result.value');
    expect((err as Error).message).toContain('class Money');
    expect(await pool.submit(1)).not.toBeUndefined(); // the worker keeps serving
  });

  it("an error's field holding a class instance arrives as a plain copy (errors keep what can be kept)", async () => {
    const err = await pool.submit(null, { fn: 'errorWithInstance' }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('request failed');
    expect((err as { request?: unknown }).request).toEqual({ url: 'http://x' });
  });
});
