/** Whether a stage's (or a source's) result is to be awaited: an object with a `then` method. */
export function isThenable(x: unknown): x is PromiseLike<unknown> {
  return x !== null && typeof x === 'object' && typeof (x as PromiseLike<unknown>).then === 'function';
}
