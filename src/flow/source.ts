/**
 * Opening what a flow call reads from: any Iterable or AsyncIterable (an array, a generator, a
 * Readable), as `for await` accepts it. Shared by pipelines and fan-out/fan-in.
 */
import { InvalidArgumentError } from '../memory/errors.js';

/** An opened source: a sync or an async iterator. */
export type Source = Iterator<unknown> | AsyncIterator<unknown>;

/** The iterator of `src` (async first); `what` names the caller in the error for anything else. */
export function openSource(src: unknown, what = 'the pipeline'): Source {
  const s = src as Partial<AsyncIterable<unknown> & Iterable<unknown>> | null;
  const a = s?.[Symbol.asyncIterator];
  if (typeof a === 'function') return a.call(s);
  const i = s?.[Symbol.iterator];
  if (typeof i === 'function') return i.call(s);
  throw new InvalidArgumentError(`${what} needs an Iterable or an AsyncIterable of inputs`);
}
