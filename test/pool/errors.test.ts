// Errors thrown in a worker arrive with their class name, message, stack, cause and own fields.
import { registerErrorClass, WorkerPool } from 'skein';
import { afterAll, describe, expect, it } from 'vitest';
import { rejection, TASKS } from '../fixtures/pool-helpers.js';

const pool = new WorkerPool({ filename: TASKS, maxWorkers: 2 });
afterAll(() => pool.close({ force: true }));

describe('errors across threads', () => {
  it('a custom error keeps name, constructor name, message, worker stack, cause and own fields', async () => {
    const err = (await rejection(pool.submit('bad address', { fn: 'fail' }))) as Error & { field?: string };
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ValidationError');
    expect(err.constructor.name).toBe('ValidationError');
    expect(err.message).toBe('bad address');
    expect(String(err)).toBe('ValidationError: bad address');
    expect(err.field).toBe('email');
    expect(err.stack).toContain('ValidationError: bad address');
    expect(err.stack).toMatch(/pool-tasks\.mjs:\d+/); // the worker's frames, not the main thread's
    const cause = err.cause as Error;
    expect(cause).toBeInstanceOf(RangeError);
    expect(cause.message).toBe('inner');
    expect(cause.stack).toContain('pool-tasks.mjs');
  });

  it('built-in classes arrive as themselves; causes nest; fields of several types survive', async () => {
    const err = (await rejection(pool.submit(null, { fn: 'deepCause' }))) as Error & {
      code?: string;
      details?: unknown;
    };
    expect(err.constructor).toBe(Error);
    expect(err.message).toBe('top');
    expect(err.code).toBe('E_TOP');
    expect(err.details).toEqual({ retry: false, tries: [1, 2] });
    const mid = err.cause as Error;
    expect(mid.message).toBe('middle');
    const root = mid.cause as Error;
    expect(root).toBeInstanceOf(TypeError);
    expect(root.message).toBe('root cause');
    // A TypeError from the runtime itself (not user-constructed) too.
    const te = await rejection(pool.submit(null, { fn: 'wgDone' }));
    expect(te).toBeInstanceOf(TypeError);
    expect(te.stack).toContain('wgDone');
  });

  it('a class that does not set `name` keeps its constructor name across the thread', async () => {
    // In the worker: err.name === 'Error' (inherited), err.constructor.name === 'QuotaError'.
    const err = (await rejection(pool.submit(3, { fn: 'quota' }))) as Error & { quota?: number };
    expect(err.message).toBe('quota 3 exceeded');
    expect(err.quota).toBe(3);
    expect(err.name).toBe('Error');
    expect(err.stack).toContain('quota 3 exceeded');
  });

  // Regression: a class that does not assign `this.name` used to arrive as a plain Error.
  it('constructor.name of a class without its own `name` survives', async () => {
    const err = await rejection(pool.submit(3, { fn: 'quota' }));
    expect(err.constructor.name).toBe('QuotaError');
  });

  it('registerErrorClass makes instanceof work for a class whose name is set', async () => {
    class ValidationError extends Error {
      field?: string;
    }
    const before = await rejection(pool.submit('x', { fn: 'fail' }));
    expect(before).not.toBeInstanceOf(ValidationError);
    registerErrorClass(ValidationError);
    const err = (await rejection(pool.submit('y', { fn: 'fail' }))) as ValidationError;
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.name).toBe('ValidationError');
    expect(err.message).toBe('y');
    expect(err.field).toBe('email');
    expect((err.cause as Error).message).toBe('inner');
  });

  // Regression: registration used to be keyed on err.name only.
  it('registerErrorClass works for a class that does not set `name`', async () => {
    class QuotaError extends Error {}
    registerErrorClass(QuotaError);
    const err = await rejection(pool.submit(1, { fn: 'quota' }));
    expect(err).toBeInstanceOf(QuotaError);
  });

  it('a thrown non-Error becomes an Error that says what was thrown', async () => {
    const s = await rejection(pool.submit(null, { fn: 'throwString' }));
    expect(s).toBeInstanceOf(Error);
    expect(s.message).toContain('just a string');
    for (const [v, shown] of [
      [42, '42'],
      [{ code: 7 }, 'code: 7'],
      [null, 'null'],
      [undefined, 'undefined'],
    ] as const) {
      const err = await rejection(pool.submit(v, { fn: 'throwValue' }));
      expect(err, String(shown)).toBeInstanceOf(Error);
      expect(err.message).toContain(shown);
      expect(err.message).toMatch(/non-Error|threw/);
    }
  });

  it('a result the codec cannot carry (a function) rejects instead of hanging', async () => {
    // `identity` of an object holding a function cannot even be submitted: the caller hears at once.
    await expect(pool.submit({ f: () => 1 }, { fn: 'identity' })).rejects.toThrow();
    // The pool keeps serving.
    expect(await pool.submit(2, { fn: 'double' })).toBe(4);
  });

  it("an own field named 'errors' on an error that is not an AggregateError arrives (ajv's, mongoose's)", async () => {
    const err = (await rejection(
      pool.exec(() => {
        const e = new Error('invalid input') as Error & { errors?: unknown };
        e.errors = [{ path: '/name', message: 'is required' }];
        throw e;
      }),
    )) as Error & { errors?: unknown };
    expect(err.message).toBe('invalid input');
    expect(err.errors).toEqual([{ path: '/name', message: 'is required' }]);
  });

  it("an own field named '__proto__' stays a field: the error keeps its class and its other fields", async () => {
    const err = (await rejection(
      pool.exec(() => {
        const e = new RangeError('from a parsed body') as RangeError & { status?: number };
        // what `{ ...JSON.parse(body) }` copied onto an error makes: an own key, not the prototype
        Object.defineProperty(e, '__proto__', { value: { polluted: true }, enumerable: true, writable: true, configurable: true });
        e.status = 400;
        throw e;
      }),
    )) as RangeError & { status?: number; polluted?: unknown };
    expect(err).toBeInstanceOf(RangeError);
    expect(err.name).toBe('RangeError');
    expect(err.status).toBe(400);
    expect(err.polluted).toBeUndefined();
    expect(Object.getOwnPropertyDescriptor(err, '__proto__')?.value).toEqual({ polluted: true });
  });

  it('an own field that the registered class has as a getter or a read-only property arrives, and the pool lives on', async () => {
    class CodedError extends Error {
      get code(): string {
        return 'GENERIC';
      }
    }
    Object.defineProperty(CodedError.prototype, 'status', { value: 500, writable: false });
    registerErrorClass(CodedError);
    const err = (await rejection(
      pool.exec(() => {
        class CodedError extends Error {
          get code(): string {
            return 'GENERIC';
          }
        }
        const e = new CodedError('specific');
        Object.defineProperty(e, 'code', { value: 'E_SPECIFIC', enumerable: true });
        Object.defineProperty(e, 'status', { value: 404, enumerable: true });
        throw e;
      }),
    )) as CodedError & { status?: number };
    expect(err).toBeInstanceOf(CodedError);
    expect(err.message).toBe('specific');
    expect(err.code).toBe('E_SPECIFIC');
    expect(err.status).toBe(404);
    expect(await pool.submit(2, { fn: 'double' })).toBe(4);
  });

  it('a Buffer in an own field or a non-Error cause arrives as a Buffer, as in a result', async () => {
    const err = (await rejection(
      pool.exec(() => {
        const e = new Error('HTTP 500', { cause: Buffer.from('raw cause') }) as Error & { body?: Buffer };
        e.body = Buffer.from('{"reason":"down"}');
        throw e;
      }),
    )) as Error & { body?: Buffer };
    expect(Buffer.isBuffer(err.body)).toBe(true);
    expect(err.body?.toString()).toBe('{"reason":"down"}');
    expect(Buffer.isBuffer(err.cause)).toBe(true);
    expect(String(err.cause)).toBe('raw cause');
  });

  it('errors do not kill the worker: the pool keeps its workers and counts failures', async () => {
    const before = pool.metrics();
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) => pool.submit(i, { fn: i % 2 ? 'fail' : 'double' })),
    );
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(20);
    expect(
      results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<number>).value),
    ).toEqual(Array.from({ length: 20 }, (_, i) => i * 4));
    const after = pool.metrics();
    expect(after.failed - before.failed).toBe(20);
    expect(after.completed - before.completed).toBe(20);
    expect(pool.getWorkerCount()).toBe(2);
  });
});

describe('a DOMException across threads', () => {
  it("arrives as a DOMException with its name, message and code (AbortSignal.timeout's and fetch's errors; it was a stand-in without code)", async () => {
    const err = (await rejection(
      pool.exec(async () => {
        const signal = AbortSignal.timeout(1);
        await new Promise((r) => setTimeout(r, 20));
        throw signal.reason as Error;
      }),
    )) as DOMException;
    expect(err).toBeInstanceOf(DOMException);
    expect(err.name).toBe('TimeoutError');
    expect(err.code).toBe(DOMException.TIMEOUT_ERR);
    expect(err.message).toMatch(/timed out|timeout/i);
    const abort = (await rejection(pool.exec(() => {
      throw new DOMException('gone', 'AbortError');
    }))) as DOMException;
    expect(abort).toBeInstanceOf(DOMException);
    expect([abort.name, abort.message, abort.code]).toEqual(['AbortError', 'gone', DOMException.ABORT_ERR]);
  });
});

describe('an error of another realm', () => {
  it("a vm context's TypeError arrives as a TypeError with its message (it arrived as 'a non-Error value')", async () => {
    const err = (await rejection(
      pool.exec(() => {
        const vm = (process as unknown as { getBuiltinModule(id: string): typeof import('node:vm') }).getBuiltinModule('node:vm');
        vm.runInNewContext('null.x');
      }),
    )) as Error;
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toMatch(/null/);
  });
});
