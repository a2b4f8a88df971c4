/**
 * `node:diagnostics_channel` events of skein. Subscribe with `diagnostics_channel.subscribe(name, fn)`.
 *
 * | channel | message | published when |
 * |---|---|---|
 * | `skein:task:start` | `{ pool, fn, id }` | a traced pool's `submit` (or `run`, `exec`, a `proxy()` method; or a `submitBatch` or a `map`, with `count`) starts |
 * | `skein:task:end` | `{ pool, fn, id, ok, durationMs, error? }` | that task settles (value or error; a map: its last output, an early stop, or its error) |
 * | `skein:breaker:state` | `{ breaker, from, to }` | a traced breaker changes state (seen in this thread) |
 *
 * Pools and breakers given to {@link serveMetrics} are traced; {@link tracePool} and
 * {@link traceBreaker} trace others. Publishing costs nothing while a channel has no subscriber.
 */
import diagnostics from 'node:diagnostics_channel';
import type { SubmitOptions, WorkerPool } from '../pool/index.js';
import type { CircuitBreaker, StateChangeEvent } from '../resilience/index.js';

/** The channel names skein publishes on. */
export const CHANNELS = {
  taskStart: 'skein:task:start',
  taskEnd: 'skein:task:end',
  breakerState: 'skein:breaker:state',
} as const;

const taskStart = diagnostics.channel(CHANNELS.taskStart);
const taskEnd = diagnostics.channel(CHANNELS.taskEnd);
const breakerState = diagnostics.channel(CHANNELS.breakerState);

/** `skein:task:start`'s message. */
export interface TaskStartMessage {
  pool: string;
  fn: string;
  id: number;
  /** Tasks in a `submitBatch`, or in a `map` over an array (absent for one `submit`). */
  count?: number;
}

/** `skein:task:end`'s message. */
export interface TaskEndMessage extends TaskStartMessage {
  ok: boolean;
  durationMs: number;
  error?: unknown;
}

/** `skein:breaker:state`'s message. */
export interface BreakerStateMessage extends StateChangeEvent {
  breaker: string;
}

const traced = new WeakSet<object>();
let nextId = 1;

/** Publishes a task's start; the function it returns publishes that task's end. */
function startTask(pool: string, fn: string, count: number | undefined): (ok: boolean, error?: unknown) => void {
  const id = nextId++;
  const base: TaskStartMessage = count === undefined ? { pool, fn, id } : { pool, fn, id, count };
  taskStart.publish(base);
  const t0 = performance.now();
  return (ok, error) => {
    const durationMs = performance.now() - t0;
    taskEnd.publish((ok ? { ...base, ok, durationMs } : { ...base, ok, durationMs, error }) satisfies TaskEndMessage);
  };
}

function traceCall<R>(pool: string, fn: string, count: number | undefined, run: () => Promise<R>): Promise<R> {
  if (!taskStart.hasSubscribers && !taskEnd.hasSubscribers) return run();
  const end = startTask(pool, fn, count);
  return run().then(
    (v) => {
      end(true);
      return v;
    },
    (error: unknown) => {
      end(false, error);
      throw error;
    },
  );
}

/** One start/end pair around a whole `map` run: from its first pull to its end (done, stopped, failed). */
function traceMap<R>(pool: string, fn: string, count: number | undefined, out: AsyncIterable<R>): AsyncIterable<R> {
  if (!taskStart.hasSubscribers && !taskEnd.hasSubscribers) return out;
  return (async function* traced(): AsyncGenerator<R, void, undefined> {
    const end = startTask(pool, fn, count);
    let failed = false;
    try {
      yield* out;
    } catch (error) {
      failed = true;
      end(false, error);
      throw error;
    } finally {
      if (!failed) end(true);
    }
  })();
}

/**
 * Makes `pool.submit` (and so `run`, `exec` and `proxy()` methods), `pool.submitBatch` and
 * `pool.map` publish `skein:task:start` / `skein:task:end` (on the main thread, from submit to
 * settle; a map once for its whole run). Idempotent; returns the pool.
 *
 * @example
 * ```ts
 * diagnostics_channel.subscribe('skein:task:end', (m) => log(m.pool, m.fn, m.durationMs));
 * tracePool(pool, 'hash');
 * ```
 */
export function tracePool<P extends WorkerPool>(pool: P, name: string): P {
  if (traced.has(pool)) return pool;
  traced.add(pool);
  const submit = pool.submit.bind(pool);
  const submitBatch = pool.submitBatch.bind(pool);
  const map = pool.map.bind(pool);
  Object.defineProperty(pool, 'submit', {
    configurable: true,
    value: <R>(input: unknown, opts?: SubmitOptions): Promise<R> =>
      traceCall(name, opts?.fn ?? 'default', undefined, () => submit<R>(input, opts)),
  });
  Object.defineProperty(pool, 'submitBatch', {
    configurable: true,
    value: <R>(inputs: Iterable<unknown>, opts?: SubmitOptions): Promise<R[]> => {
      // Not an iterable: submitBatch's own InvalidArgumentError rejection, not spreading's TypeError thrown here.
      if (typeof (inputs as Partial<Iterable<unknown>> | null | undefined)?.[Symbol.iterator] !== 'function') return submitBatch<R>(inputs, opts);
      const items = Array.isArray(inputs) ? inputs : [...inputs];
      return traceCall(name, opts?.fn ?? 'default', items.length, () => submitBatch<R>(items, opts));
    },
  });
  Object.defineProperty(pool, 'map', {
    configurable: true,
    value: <R>(inputs: Iterable<unknown> | AsyncIterable<unknown>, opts?: SubmitOptions): AsyncIterable<R> =>
      traceMap(name, opts?.fn ?? 'default', Array.isArray(inputs) ? inputs.length : undefined, map<R>(inputs, opts)),
  });
  return pool;
}

/** Makes `breaker`'s state changes publish `skein:breaker:state`. Idempotent; returns the breaker. */
export function traceBreaker<B extends CircuitBreaker<unknown>>(breaker: B, name: string): B {
  if (traced.has(breaker)) return breaker;
  traced.add(breaker);
  breaker.on('stateChange', (e) => {
    if (breakerState.hasSubscribers) breakerState.publish({ breaker: name, from: e.from, to: e.to } satisfies BreakerStateMessage);
  });
  return breaker;
}
