/**
 * `fanIn`: merges several sources into one async iterable. Each source has at most one `next()`
 * outstanding and at most one item waiting, so a fast source cannot run ahead of the consumer. When
 * the consumer stops early, or a source or the strategy throws, every source is closed (its `return()`
 * runs; one with a `next()` still pending is asked to close but not waited for). An element of a sync
 * source that is a promise is awaited before it is ready, as `for await` awaits it (and as the other
 * flow calls do); one that rejects fails the merge, as a source that throws does.
 */
import { InvalidArgumentError } from '../../memory/errors.js';
import { object, onlyKeys } from '../../memory/validate.js';
import { isThenable } from '../../memory/thenable.js';
import { openSource } from '../source.js';
import { readyQueue } from './ready-queue.js';

/** An item that is ready, and the index of the source it came from. */
export interface FanInCandidate<T> {
  readonly source: number;
  readonly value: T;
}

/**
 * Which source goes next: `'arrival'` (whichever has an item first), `'round-robin'` (each source in
 * turn, skipping finished ones), `'priority'` (the lowest-index source with an item ready), or a
 * function that picks among the items ready now (it returns an index into `ready`).
 */
export type FanInStrategy<T> = 'arrival' | 'round-robin' | 'priority' | ((ready: readonly FanInCandidate<T>[]) => number);

/** Options of {@link fanIn}. */
export interface FanInOptions<T> {
  strategy?: FanInStrategy<T>;
}

type Slot<T> = { state: 'idle' | 'pending' | 'ready' | 'done'; value?: T };

/** The items a source gives: `T` for an `AsyncIterable<T>`, or an `Iterable<T>` (its promises awaited). */
export type FanInItem<S> = S extends AsyncIterable<infer T> ? T : S extends Iterable<infer T> ? Awaited<T> : never;

/**
 * Merges `sources` into one async iterable, in the order the strategy says. The item type is the
 * union of the sources' item types. Each step costs O(1) for `'arrival'` and `'round-robin'`, O(log
 * sources) for `'priority'`, and O(ready) for a function (it is handed every ready item), so merging
 * many sources stays linear.
 *
 * @example
 * ```ts
 * for await (const job of fanIn([urgent, normal, batch], { strategy: 'priority' })) handle(job);
 * ```
 */
export function fanIn<S extends readonly (Iterable<unknown> | AsyncIterable<unknown>)[]>(
  sources: S,
  opts?: FanInOptions<FanInItem<S[number]>>,
): AsyncIterableIterator<FanInItem<S[number]>>;
/** Merges `sources` of items `T` (the type given by hand). */
export function fanIn<T>(sources: readonly (Iterable<T | PromiseLike<T>> | AsyncIterable<T>)[], opts?: FanInOptions<T>): AsyncIterableIterator<T>;
export function fanIn<T>(
  sources: readonly (Iterable<T | PromiseLike<T>> | AsyncIterable<T>)[],
  opts: FanInOptions<T> = {},
): AsyncIterableIterator<T> {
  if (!Array.isArray(sources)) throw new InvalidArgumentError('fanIn needs an array of sources');
  onlyKeys(object(opts, 'fanIn options'), 'fanIn options', ['strategy']);
  const strategy = opts.strategy ?? 'arrival';
  if (typeof strategy !== 'function' && !['arrival', 'round-robin', 'priority'].includes(strategy)) {
    throw new InvalidArgumentError(`Expected strategy to be 'arrival', 'round-robin', 'priority' or a function, got ${String(strategy)}`);
  }
  const its: (AsyncIterator<T> | Iterator<T>)[] = [];
  /** Sources that are sync iterators: their elements that are promises are awaited. */
  const syncs: boolean[] = [];
  try {
    for (const [k, s] of sources.entries()) {
      const { it, sync } = openSource(s, `fanIn source ${k}`);
      its.push(it as AsyncIterator<T> | Iterator<T>);
      syncs.push(sync);
    }
  } catch (err) {
    // Those opened before the bad one are closed, as if the consumer had stopped at once.
    for (const it of its) {
      try {
        void Promise.resolve(it.return?.()).then(undefined, () => {});
      } catch {
        // nothing more to do with a source that fails to close
      }
    }
    throw err;
  }
  const slots: Slot<T>[] = its.map(() => ({ state: 'idle' }));
  /** Sources to ask for their next item (each idle source is here once). */
  const idle: number[] = its.map((_, i) => i).reverse();
  /** The ready sources, in the strategy's order (ready-queue.ts). */
  const ready = readyQueue(strategy, its.length);
  let live = its.length;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  let closed = false;

  const finish = (i: number): void => {
    slots[i].state = 'done';
    live--;
    ready.finished(i);
  };

  const request = (i: number): void => {
    const s = slots[i];
    s.state = 'pending';
    let r: IteratorResult<T> | Promise<IteratorResult<T>>;
    try {
      r = its[i].next();
    } catch (err) {
      failure ??= { error: err };
      finish(i);
      return;
    }
    const failed = (err: unknown): void => {
      failure ??= { error: err };
      finish(i);
      wakeUp();
    };
    const setReady = (value: T): void => {
      s.state = 'ready';
      s.value = value;
      ready.add(i);
      wakeUp();
    };
    const onResult = (res: IteratorResult<T>, fromSync: boolean): void => {
      if (typeof res !== 'object' || res === null) {
        // As for await does: a TypeError, and that source is not closed.
        failed(new TypeError(`fanIn source ${i}'s next() gave ${String(res)}, not an iterator result object`));
        return;
      }
      if (res.done) {
        finish(i);
        wakeUp();
        return;
      }
      const value = res.value;
      let thenable = false;
      try {
        thenable = fromSync && isThenable(value); // a `then` getter that throws: as await would reject
      } catch (err) {
        failed(err);
        return;
      }
      // The source stays 'pending' (not asked again) until its element settles.
      if (thenable) Promise.resolve(value).then(setReady, failed);
      else setReady(value);
    };
    if (r && typeof (r as Promise<unknown>).then === 'function') {
      (r as Promise<IteratorResult<T>>).then((res) => onResult(res, false), failed);
    } else onResult(r as IteratorResult<T>, syncs[i]);
  };

  /** The slot to take now, -1 to wait, -2 when every source is done. */
  const pick = (): number => {
    if (live === 0) return -2;
    if (typeof strategy !== 'function') return ready.take();
    const list = ready.list();
    if (list.length === 0) return -1;
    const k = strategy(list.map((i) => ({ source: i, value: slots[i].value as T })));
    if (!Number.isInteger(k) || k < 0 || k >= list.length) {
      throw new InvalidArgumentError(`the fanIn strategy returned ${String(k)}, not an index into the ${list.length} ready items`);
    }
    ready.remove(list[k]);
    return list[k];
  };

  /** Wakes the one waiting `next()` (calls are queued, so there is at most one). */
  const wakeUp = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  /**
   * Closes every source not finished. A source whose `next()` is still pending is asked to close but
   * not waited for: an async generator queues `return()` behind that `next()`, which may never come.
   */
  const closeAll = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    wakeUp();
    const waits: Promise<unknown>[] = [];
    its.forEach((it, i) => {
      if (slots[i].state === 'done') return;
      let r: unknown;
      try {
        r = it.return?.();
      } catch {
        return; // a source that fails to close: nothing more to do with it
      }
      const p = Promise.resolve(r);
      if (slots[i].state === 'pending') p.then(undefined, () => {});
      else waits.push(p);
    });
    await Promise.allSettled(waits);
  };

  /** One step of the merge: the next item, or done; throws the first source or strategy failure. */
  const step = async (): Promise<IteratorResult<T>> => {
    for (;;) {
      if (closed) return { value: undefined, done: true };
      while (idle.length > 0) request(idle.pop() as number);
      let i: number;
      try {
        // After the requests: a source whose next() threw just now must fail the merge, not end it.
        if (failure) throw failure.error;
        i = pick();
      } catch (err) {
        await closeAll();
        throw err;
      }
      if (i === -2) {
        closed = true;
        return { value: undefined, done: true };
      }
      if (i >= 0) {
        const value = slots[i].value as T;
        slots[i].value = undefined;
        slots[i].state = 'idle';
        idle.push(i);
        return { value, done: false };
      }
      await new Promise<void>((r) => {
        wake = r;
      });
    }
  };

  // next() calls made before the last settled wait their turn, as an async generator's do.
  let queue: Promise<unknown> = Promise.resolve();

  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next(): Promise<IteratorResult<T>> {
      const r = queue.then(step);
      queue = r.then(
        () => undefined,
        () => undefined,
      );
      return r;
    },
    async return(): Promise<IteratorResult<T>> {
      await closeAll();
      return { value: undefined, done: true };
    },
  };
}
