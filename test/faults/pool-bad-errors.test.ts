// A task whose thrown error cannot cross threads whole rejects alone with UncloneableTaskError,
// keeping what can be kept; its worker and that worker's other tasks are untouched (issues 10, 14).
// Before the fix each of these killed the worker: the task and its neighbours got WorkerCrashedError.
import { SerializationError, UncloneableTaskError, WorkerPool } from 'skein';
import { afterAll, describe, expect, it } from 'vitest';
import { rejection, within } from '../fixtures/pool-helpers.js';

const FILE = new URL('../fixtures/pool-bad-errors.mjs', import.meta.url);
// One worker running several tasks at once, so a crash would take the neighbours with it.
const pool = new WorkerPool({ filename: FILE, maxWorkers: 1, concurrentTasksPerWorker: 4 });
afterAll(() => pool.close({ force: true }));

const workerIds = (): number[] => pool.getHealthStatus().map((h) => h.workerId);

/** Runs `fn` beside two sleeping neighbours on the same worker; checks they and the worker survive. */
async function beside(fn: string): Promise<Error> {
  await pool.submit(1, { fn: 'nap' });
  const ids = workerIds();
  const neighbours = [pool.submit(150, { fn: 'nap' }), pool.submit(200, { fn: 'nap' })];
  const err = await within(rejection(pool.submit(null, { fn })), 5000, fn);
  expect(await within(Promise.all(neighbours), 5000, 'neighbours')).toEqual([150, 200]);
  expect(workerIds()).toEqual(ids);
  return err;
}

type Uncloneable = UncloneableTaskError & Record<string, unknown>;

describe('results that are odd thenables are settled as `await` would settle them', () => {
  it('a `then` getter that throws rejects the task with that error; the worker and its other tasks go on', async () => {
    const err = await beside('thenGetterThrows');
    expect(err.message).toBe('getter says no');
  });

  it('a `then` that throws rejects the task with that error', async () => {
    const err = await beside('thenThrows');
    expect(err.message).toBe('getter says no');
  });

  it('a function with a `then` method is awaited, not sent as a function', async () => {
    expect(await within(pool.submit(null, { fn: 'callableThenable' }), 5000, 'callableThenable')).toBe(42);
  });

  it('a thenable that settles twice and then throws: its first verdict stands', async () => {
    expect(await within(pool.submit(null, { fn: 'thenSettlesTwice' }), 5000, 'thenSettlesTwice')).toBe('first');
  });
});

describe('errors that cannot cross threads whole', () => {
  it('an own getter that throws: UncloneableTaskError with class name, message, stack and the other fields', async () => {
    const err = (await beside('getterThrows')) as Uncloneable;
    expect(err).toBeInstanceOf(UncloneableTaskError);
    expect(err.name).toBe('UncloneableTaskError');
    expect(err.originalName).toBe('ParseError');
    expect(err.message).toBe('bad token at 7');
    expect(err.stack).toContain('ParseError: bad token at 7');
    expect(err.stack).toMatch(/pool-bad-errors\.mjs:\d+/); // the worker's frames
    expect(err.line).toBe(7);
    expect(err.lost).toEqual(["field 'detail' (its getter threw)"]);
  });

  it('the same when the error comes from a rejected promise', async () => {
    const err = (await beside('asyncGetterThrows')) as Uncloneable;
    expect(err).toBeInstanceOf(UncloneableTaskError);
    expect(err.originalName).toBe('ParseError');
    expect(err.line).toBe(7);
  });

  it('fields that cannot be cloned are named in `lost`; the cloneable ones stay', async () => {
    const err = (await beside('uncloneableField')) as Uncloneable;
    expect(err).toBeInstanceOf(UncloneableTaskError);
    expect(err.originalName).toBe('RangeError');
    expect(err.message).toBe('out of range');
    expect(err.code).toBe('E_RANGE');
    expect(err.lost).toEqual(["field 'retry' (not cloneable)", "field 'sock' (not cloneable)"]);
  });

  it('a `stack` getter that throws: message and class kept, stack made up from them', async () => {
    const err = await beside('stackThrows');
    expect(err).toBeInstanceOf(UncloneableTaskError);
    expect((err as Uncloneable).originalName).toBe('TypeError');
    expect(err.message).toBe('no stack for you');
    expect(err.stack).toContain('TypeError: no stack for you');
    expect((err as Uncloneable).lost).toEqual(['stack (its getter threw)']);
  });

  it('`message` and `name` getters that throw', async () => {
    const err = (await beside('messageThrows')) as Uncloneable;
    expect(err).toBeInstanceOf(UncloneableTaskError);
    expect(err.originalName).toBe('Error');
    // V8 formats `stack` lazily from name and message, so reading it throws too.
    expect(err.lost).toEqual(['name (its getter threw)', 'message (its getter threw)', 'stack (its getter threw)']);
    expect(err.message).toContain('could not be read');
  });

  it('a thrown Proxy (its traps throw): described without running a trap', async () => {
    const err = (await beside('proxyThrown')) as Uncloneable;
    expect(err).toBeInstanceOf(UncloneableTaskError);
    expect(err.originalName).toBe('Proxy');
    expect(err.message).toContain('Error: behind a proxy');
    const obj = (await beside('proxyObjectThrown')) as Uncloneable;
    expect(obj).toBeInstanceOf(UncloneableTaskError);
    expect(obj.message).toContain('{ a: 1 }');
  });

  it('an AggregateError holding an uncloneable value keeps the errors that can be kept', async () => {
    const err = (await beside('aggregateUncloneable')) as Uncloneable & { errors: unknown[] };
    expect(err).toBeInstanceOf(UncloneableTaskError);
    expect(err.originalName).toBe('AggregateError');
    expect(err.message).toBe('several failed');
    expect(err.lost).toEqual(['errors[1] (not cloneable)']);
    expect(err.errors).toHaveLength(3);
    const [first, inner, n] = err.errors as [Error, Uncloneable, number];
    expect(first.message).toBe('first');
    expect(inner).toBeInstanceOf(UncloneableTaskError);
    expect(inner.message).toBe('bad inner');
    expect(inner.lost).toEqual(["field 'x' (its getter threw)"]);
    expect(n).toBe(42);
  });

  it('a cause that can be neither cloned nor turned into a string is kept as text', async () => {
    const err = (await beside('causeUncloneable')) as Uncloneable;
    expect(err).toBeInstanceOf(UncloneableTaskError);
    expect(err.message).toBe('with a strange cause');
    expect(String(err.cause)).toContain('fn: [Function');
    expect(err.lost).toEqual(['cause (not cloneable: kept as text)']);
  });

  it('a result that cannot be encoded stays a SerializationError, neighbours untouched', async () => {
    const err = await beside('badResult');
    expect(err).toBeInstanceOf(SerializationError);
    expect(err).not.toBeInstanceOf(UncloneableTaskError);
  });

  it('a thrown non-Error whose getter throws still becomes an Error saying what was thrown', async () => {
    const err = await beside('objectGetterThrows');
    expect(err.message).toContain('non-Error value');
    expect(err.message).toContain('a: 1');
  });
});
