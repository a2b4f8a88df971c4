/**
 * Opening what a flow call reads from: any Iterable or AsyncIterable (an array, a generator, a
 * Readable), as `for await` accepts it. Shared by pipelines and fan-out/fan-in.
 */
import { InvalidArgumentError } from '../memory/errors.js';

/** An opened source: a sync or an async iterator. */
export type Source = Iterator<unknown> | AsyncIterator<unknown>;

/**
 * The iterator of `src` (async first), and whether it is a sync one: `for await` awaits an element of
 * a sync source that is a promise (so do the flow calls), never a value an async source gives.
 * `what` names the caller in the error for anything else.
 */
export function openSource(src: unknown, what = 'the pipeline'): { it: Source; sync: boolean } {
  const s = src as Partial<AsyncIterable<unknown> & Iterable<unknown>> | null;
  const a = s?.[Symbol.asyncIterator];
  if (typeof a === 'function') return { it: a.call(s), sync: false };
  const i = s?.[Symbol.iterator];
  if (typeof i === 'function') return { it: i.call(s), sync: true };
  throw new InvalidArgumentError(`${what} needs an Iterable or an AsyncIterable of inputs`);
}
