/**
 * `fanOut`: runs a function (on this thread) or a pool's task function over many inputs with at most
 * `concurrency` at once, and gathers the outcomes.
 *
 * The window is a counter with callbacks, never `Promise.race` over the running promises (the
 * limiter leak: a race that never drops settled promises grows without end): each settled call
 * frees a place and pulls the next input. Every call's promise is handled as it settles, the caller's
 * signal gets one listener for the whole call and loses it when the call ends, so nothing stays
 * pending or listening afterwards, whatever happened.
 */
import { AbortError, InvalidArgumentError } from '../../memory/errors.js';
import { allKeys, boolean, object, onlyKeys } from '../../memory/validate.js';
import { watchAbort } from '../../memory/wait/index.js';
import { submitWhenRoom, type WorkerPool } from '../../pool/index.js';
import { callSignal } from '../call-signal.js';
import { openSource } from '../source.js';
import { isThenable } from '../../memory/thenable.js';
import { availableCores } from '../../memory/cores.js';

/** Options of {@link fanOut}. */
export interface FanOutOptions {
  /** With a pool: the export to run (default export by default). */
  fn?: string;
  /** Most calls at once. Default: 4 x cores with a pool, cores with a function. */
  concurrency?: number;
  /** Inputs taken from the source and started together (fewer wake-ups for tiny tasks); at most `concurrency`. Default 1. */
  batchSize?: number;
  /** Results in input order (default) or as they finish. */
  ordered?: boolean;
  /** Return every outcome, in input order, as `PromiseSettledResult`s, instead of failing fast. */
  allSettled?: boolean;
  /** Stops the call: nothing more starts, running calls see their signal abort, it rejects with AbortError. */
  signal?: AbortSignal;
}

/** Every option fanOut takes (FanPattern takes them too, but `allSettled`, besides its target). */
export const FAN_OUT_KEYS = allKeys<FanOutOptions>({
  fn: true,
  concurrency: true,
  batchSize: true,
  ordered: true,
  allSettled: true,
  signal: true,
});

/** What the function given to {@link fanOut} receives besides its input. */
export interface FanOutContext {
  readonly signal: AbortSignal;
  /** The input's position in the source. */
  readonly index: number;
}

export type FanFunction<I, O> = (input: I, ctx: FanOutContext) => O | PromiseLike<O>;

function isPool(x: unknown): x is WorkerPool {
  return typeof x === 'object' && x !== null && typeof (x as WorkerPool).submit === 'function';
}

function positive(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new InvalidArgumentError(`Expected ${name} to be an integer >= 1, got ${String(v)}`);
  }
  return v;
}

/**
 * The context of one call of a function target: its index, and a signal of its own (call-signal.ts),
 * so `concurrency` calls listening on their signals at once pile no listeners on one signal.
 * `end()`: the call is over. Internal: FanPattern.processStream gives its function calls the same context.
 */
export function callContext(parent: AbortSignal, index: number): FanOutContext & { end(): void } {
  const own = callSignal(parent);
  return {
    index,
    get signal(): AbortSignal {
      return own.signal;
    },
    end: () => own.end(),
  };
}

/**
 * The TypeError `for await` throws for a next() that gives something other than an object; undefined
 * if it is one. `who` names the call whose source it is.
 */
function notResult(res: unknown, who: string): TypeError | undefined {
  if (typeof res === 'object' && res !== null) return undefined;
  return new TypeError(`${who}'s source: next() gave ${String(res)}, not an iterator result object`);
}

/**
 * fanOut's target and options checked (InvalidArgumentError for a bad one), with their defaults.
 * Internal: FanPattern checks its options with it at construction; `who` names the caller in the
 * errors that name one.
 */
export function fanOutSettings(
  target: unknown,
  opts: FanOutOptions,
  who = 'fanOut',
): { pool: WorkerPool | undefined; concurrency: number; batch: number } {
  const pool = isPool(target) ? target : undefined;
  if (!pool && typeof target !== 'function') throw new InvalidArgumentError(`${who} needs a function or a WorkerPool`);
  object(opts, `${who} options`);
  onlyKeys(opts, `${who} options`, FAN_OUT_KEYS); // `{ concurency: 4 }` ran at the default concurrency
  if (opts.ordered !== undefined) boolean(opts.ordered, 'ordered');
  if (opts.allSettled !== undefined) boolean(opts.allSettled, 'allSettled');
  const cores = availableCores();
  const concurrency = positive(opts.concurrency ?? (pool ? 4 * cores : cores), 'concurrency');
  // A batch never holds more than `concurrency` inputs: the window is the limit.
  const batch = Math.min(positive(opts.batchSize ?? 1, 'batchSize'), concurrency);
  if (opts.fn !== undefined && typeof opts.fn !== 'string') {
    throw new InvalidArgumentError(`Expected fn to be the name of an export, got ${String(opts.fn)}`);
  }
  // As a pipeline stage refuses it: beside a function, fn was ignored without a word.
  if (opts.fn !== undefined && !pool) throw new InvalidArgumentError(`fn names an export of a pool's task module; ${who} was given a function`);
  if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) {
    throw new InvalidArgumentError('Expected signal to be an AbortSignal');
  }
  return { pool, concurrency, batch };
}

/**
 * Runs `target` over every input (at most `concurrency` at once) and resolves to the outputs, or
 * with `allSettled: true` to every outcome in input order. Without `allSettled`, the first failure
 * stops it: nothing more starts, running calls are aborted, and it rejects with that error.
 *
 * An element of a sync iterable that is a promise (`[fetchA(), fetchB()]`) is awaited before its
 * call starts, as `for await` and p-map await it (it takes its place in the window while awaited);
 * a value an async iterable gives is passed as it is. An element that rejects is that input's
 * failure, as a call that throws is: without `allSettled` it stops the call, which rejects with the
 * reason; with it, that input's outcome is `{ status: 'rejected', reason }`. Elements not read once
 * the call has stopped are never awaited, as `for await` leaves them.
 *
 * @example
 * ```ts
 * const digests = await fanOut(files, pool, { fn: 'sha256', concurrency: 8 });
 * const outcomes = await fanOut(urls, (u, { signal }) => fetch(u, { signal }), { concurrency: 4, allSettled: true });
 * ```
 */
export function fanOut<I, O>(
  inputs: Iterable<I | PromiseLike<I>> | AsyncIterable<I>,
  target: FanFunction<I, O> | WorkerPool,
  opts: FanOutOptions & { allSettled: true },
): Promise<PromiseSettledResult<O>[]>;
export function fanOut<I, O>(
  inputs: Iterable<I | PromiseLike<I>> | AsyncIterable<I>,
  target: FanFunction<I, O> | WorkerPool,
  opts?: FanOutOptions & { allSettled?: false },
): Promise<O[]>;
/** With `allSettled` known only at run time (a `boolean`), either shape may come back. */
export function fanOut<I, O>(
  inputs: Iterable<I | PromiseLike<I>> | AsyncIterable<I>,
  target: FanFunction<I, O> | WorkerPool,
  opts?: FanOutOptions,
): Promise<O[] | PromiseSettledResult<O>[]>;
export function fanOut<I, O>(
  inputs: Iterable<I | PromiseLike<I>> | AsyncIterable<I>,
  target: FanFunction<I, O> | WorkerPool,
  opts: FanOutOptions = {},
): Promise<O[] | PromiseSettledResult<O>[]> {
  return fanOutAs('fanOut', inputs, target, opts);
}

/**
 * fanOut, with `who` naming the caller in its errors (a bad source, an abort). Internal:
 * FanPattern.process and processSettled run on it under their own names.
 */
export function fanOutAs<I, O>(
  who: string,
  inputs: Iterable<I | PromiseLike<I>> | AsyncIterable<I>,
  target: FanFunction<I, O> | WorkerPool,
  opts: FanOutOptions,
): Promise<O[] | PromiseSettledResult<O>[]> {
  const { pool, concurrency, batch } = fanOutSettings(target, opts, who);
  const { it: source, sync } = openSource(inputs, who);
  const call: (x: I, i: number, signal: AbortSignal) => Promise<O> = pool
    ? // A pool's maxQueue may hold fewer than the window (the default window is 4 x cores): its tasks
      // wait for room, as pool.map's do; one refused with QueueFullError failed the whole call.
      (x, _i, signal) => submitWhenRoom<O>(pool, x, { fn: opts.fn, signal })
    : async (x, index, signal) => {
        const ctx = callContext(signal, index);
        try {
          return await (target as FanFunction<I, O>)(x, ctx);
        } finally {
          ctx.end();
        }
      };
  const ordered = opts.ordered ?? true;
  const settled = opts.allSettled === true;
  const outer = opts.signal;

  return new Promise((resolve, reject) => {
    const ctl = new AbortController();
    const results: (O | PromiseSettledResult<O>)[] = [];
    let next = 0;
    let running = 0;
    let pulling = false;
    // Inputs of the batch being taken still to take: the window's room for them was counted when the
    // batch began (running + owed <= concurrency), so an async source, taken one input at a time,
    // fills its batch across pulls instead of starting one input and waiting for room for a new batch.
    let owed = 0;
    let done = false;
    let failed: { error: unknown } | undefined;
    const onAbort = (): void => fail(new AbortError(`${who} was aborted`, { cause: outer?.reason }));
    let unwatch: (() => void) | undefined;
    // A failed call does not wait for a pending pull of the source (it may never come): its result is
    // dropped when it does. It waits for running calls, which see their signal abort.
    const finish = (): void => {
      if (running > 0 || (pulling && !failed) || (!done && !failed)) return;
      unwatch?.();
      if (failed) reject(failed.error);
      else resolve(results as O[] | PromiseSettledResult<O>[]);
    };
    /** Fails the call; `fromSource`: the source itself broke (it is not closed then, as for...of does). */
    function fail(error: unknown, fromSource = false): void {
      if (failed) return;
      failed = { error };
      ctl.abort(error);
      if (fromSource || done) {
        finish();
        return;
      }
      try {
        const r = source.return?.();
        if (r && typeof (r as Promise<unknown>).then === 'function') (r as Promise<unknown>).then(undefined, () => {});
      } catch {
        // A source that fails to close: the call fails with the first error all the same.
      }
      finish();
    }
    /** Starts input `x`; `element`: it came from a sync source, so a promise is awaited first (as for await does). */
    const start = (x: unknown, element: boolean): void => {
      const i = next++;
      running++;
      let p: Promise<O>;
      try {
        p =
          element && isThenable(x)
            ? Promise.resolve(x).then((v) => {
                ctl.signal.throwIfAborted(); // the call stopped while the element was awaited: nothing starts
                return call(v as I, i, ctl.signal);
              })
            : call(x as I, i, ctl.signal);
      } catch (err) {
        p = Promise.reject(err);
      }
      p.then(
        (value) => {
          running--;
          if (settled) results[i] = { status: 'fulfilled', value };
          else if (ordered) results[i] = value;
          else results.push(value);
          pump();
        },
        (reason: unknown) => {
          running--;
          if (settled) results[i] = { status: 'rejected', reason };
          else fail(reason);
          pump();
        },
      );
    };
    // Takes inputs while there is room for a whole batch; sync sources in a loop, async ones one at a time.
    function pump(): void {
      while (!pulling && !done && !failed) {
        if (owed === 0) {
          if (running + batch > concurrency) break;
          owed = batch;
        }
        let r: IteratorResult<I> | Promise<IteratorResult<I>>;
        try {
          r = source.next() as IteratorResult<I> | Promise<IteratorResult<I>>;
        } catch (err) {
          fail(err, true);
          break;
        }
        if (r && typeof (r as Promise<unknown>).then === 'function') {
          pulling = true;
          (r as Promise<IteratorResult<I>>).then(
            (res) => {
              pulling = false;
              const wrong = notResult(res, who);
              if (wrong) fail(wrong, true);
              else if (res.done) done = true;
              else if (!failed) {
                owed--;
                start(res.value, false);
              }
              pump();
            },
            (err: unknown) => {
              pulling = false;
              fail(err, true);
            },
          );
          return;
        }
        const res = r as IteratorResult<I>;
        const wrong = notResult(res, who);
        if (wrong) {
          fail(wrong, true);
          break;
        }
        if (res.done) done = true;
        else {
          owed--;
          start(res.value, sync);
        }
      }
      finish();
    }
    if (outer?.aborted) {
      onAbort();
      return;
    }
    if (outer) unwatch = watchAbort(outer, onAbort); // one listener per signal (memory/signal-watch.ts)
    pump();
  });
}
