/**
 * Whether `await` would wait on `x`: an object or a function with a `then` method. Reading `then`
 * may throw (a getter); callers that have let a call in read it where they record its failure.
 */
export function isThenable(x: unknown): x is PromiseLike<unknown> {
  if (x === null || (typeof x !== 'object' && typeof x !== 'function')) return false;
  return typeof (x as PromiseLike<unknown>).then === 'function';
}
