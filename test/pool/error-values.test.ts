// Errors that travel as values (inside a task's result or input, or as a channel message, not
// thrown) keep their class, own fields, cause chain and an AggregateError's `errors`, as thrown ones
// do; and skein's own errors of every layer, thrown in a worker, arrive as their classes.
import {
  Channel,
  ChannelClosedError,
  ParallelError,
  registerErrorClass,
  SkeinError,
  StageFailedError,
} from 'skein';
import { types } from 'node:util';
import { describe, expect, it } from 'vitest';
import { filePool, rejection } from '../fixtures/pool-helpers.js';

const FILE = new URL('../fixtures/error-values.mjs', import.meta.url);
const pool = filePool(1, FILE);

class ReportedError extends Error {
  code?: string;
}
registerErrorClass(ReportedError); // the worker's class of the same name

type Errors = Record<'aggregate' | 'dom' | 'registered' | 'local' | 'fields' | 'chain', Error>;

function expectIntact(e: Errors): void {
  expect(e.aggregate).toBeInstanceOf(AggregateError);
  const agg = e.aggregate as AggregateError;
  expect(agg.message).toBe('several');
  expect(agg.errors).toHaveLength(2);
  expect(agg.errors[0]).toBeInstanceOf(RangeError);
  expect(agg.errors[1]).toBe('text');

  expect(e.dom).toBeInstanceOf(DOMException);
  expect(e.dom.name).toBe('TimeoutError');
  expect((e.dom as DOMException).code).toBe(23);
  expect(e.dom.message).toBe('took too long');

  expect(e.registered).toBeInstanceOf(ReportedError);
  expect(e.registered.name).toBe('ReportedError');
  expect((e.registered as ReportedError).code).toBe('E_REPORTED');

  expect(e.local.name).toBe('LocalOnlyError');
  expect(e.local.constructor.name).toBe('LocalOnlyError');
  expect((e.local as Error & { status?: number }).status).toBe(418);

  const f = e.fields as Error & { n?: number; nested?: unknown; buf?: unknown; when?: unknown };
  expect(f.n).toBe(42);
  expect(f.nested).toEqual({ a: [1, { b: 2 }] });
  expect(Buffer.isBuffer(f.buf)).toBe(true);
  expect(f.when).toEqual(new Date(0));

  const mid = e.chain.cause as Error;
  expect(mid).toBeInstanceOf(TypeError);
  const low = mid.cause as ReportedError;
  expect(low).toBeInstanceOf(ReportedError);
  expect(low.code).toBe('E_REPORTED');
  expect(low.cause).toEqual({ plain: 1 });
  expect(e.chain.stack).toMatch(/error-values\.mjs:\d+/); // the worker's frames
  // real error objects, as the worker's were (deep equality and Error.isError tell them by that)
  for (const err of [e.aggregate, e.registered, e.local, e.fields, e.chain, mid, low]) {
    expect(types.isNativeError(err)).toBe(true);
    expect(Object.prototype.toString.call(err)).toBe('[object Error]');
  }
}

describe('errors as values', () => {
  it('a task result holding errors brings them back whole (as a field and in an array)', async () => {
    const out = (await pool.submit(null, { fn: 'returnErrors' })) as { errors: Errors; list: Error[] };
    expectIntact(out.errors);
    expect(out.list).toEqual(Object.values(out.errors));
    expect(out.list[0]).toBe(out.errors.aggregate); // one error met twice is one error
  });

  it('errors in a task input reach the worker as their classes with their fields', async () => {
    const fields = Object.assign(new Error('f'), { n: 1 });
    const seen = (await pool.submit(
      { agg: new AggregateError([new Error('x')], 'a'), range: new RangeError('r'), fields },
      { fn: 'describeInput' },
    )) as Record<string, { ctor: string; keys: string[]; isError: boolean }>;
    expect(seen.agg.ctor).toBe('AggregateError');
    expect(seen.range.ctor).toBe('RangeError');
    expect(seen.fields.keys).toContain('n');
    expect(Object.values(seen).every((s) => s.isError)).toBe(true);
  });

  it('errors sent over a Channel from a worker arrive whole', async () => {
    const ch = new Channel<Error>({ capacity: 8 });
    const sent = pool.submit(ch, { fn: 'sendErrors' });
    const got: Error[] = [];
    for await (const e of ch) got.push(e);
    await sent;
    const [aggregate, dom, registered, local, fields, chain] = got;
    expectIntact({ aggregate, dom, registered, local, fields, chain });
  });
});

describe("skein's own errors thrown in a worker", () => {
  it('arrive as their classes: sync (a real send on a closed channel) and flow', async () => {
    const closed = await rejection(pool.submit(new Channel({ capacity: 1 }), { fn: 'sendOnClosed' }));
    expect(closed).toBeInstanceOf(ChannelClosedError);
    expect(closed).toBeInstanceOf(SkeinError);
    expect(types.isNativeError(closed)).toBe(true);

    const par = (await rejection(pool.submit(null, { fn: 'throwParallel' }))) as ParallelError;
    expect(par).toBeInstanceOf(ParallelError);
    expect(par.chunk).toEqual({ start: 0, end: 8 });
    expect(par.cause).toBeInstanceOf(RangeError);

    const sf = (await rejection(pool.submit(null, { fn: 'throwStageFailed' }))) as StageFailedError;
    expect(sf).toBeInstanceOf(StageFailedError);
    expect(sf.stage).toBe('parse');
    expect(sf.cause).toBeInstanceOf(TypeError);
  });
});
