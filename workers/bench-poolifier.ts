/**
 * poolifier's shape of the pool benchmark's tasks: a `ThreadWorker` over the same functions as
 * `bench-tasks.ts` (poolifier calls `fn(data)` by name through `pool.execute(data, name)`).
 */
import { ThreadWorker } from 'poolifier';
import { echo, hash } from './bench-tasks.js';

export default new ThreadWorker<unknown, unknown>({
  echo: (x: unknown) => echo(x),
  hash: (n: unknown) => hash(n as number),
});
