/** Whether a result is to be awaited: an object with a `then` method (functions with one are not). */
export function isThenable(x: unknown): x is PromiseLike<unknown> {
  return x !== null && typeof x === 'object' && typeof (x as PromiseLike<unknown>).then === 'function';
}
