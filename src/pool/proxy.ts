/**
 * Typed proxies of a pool (comlink's ergonomics): `pool.proxy<typeof import('./hash.js')>()` has a
 * method per function the task module exports, taking that function's input and resolving to its
 * output; the call is `pool.submit(input, { ...opts, fn: name })`.
 */
import type { SubmitOptions } from './main/index.js';
import type { LifeCycleExport } from './task-types.js';

/** One task function's method on a proxy: its first parameter in, its (awaited) result out. */
export type ProxyMethod<F> = F extends (...args: infer P) => infer R
  ? P extends [] | [undefined?, ...unknown[]]
    ? (input?: P[0], opts?: Omit<SubmitOptions, 'fn'>) => Promise<Awaited<R>>
    : (input: P[0], opts?: Omit<SubmitOptions, 'fn'>) => Promise<Awaited<R>>
  : never;

/**
 * The methods of `pool.proxy<M>()`: one per function export of the task module `M` (`default`
 * included, `setup` and `teardown` left out).
 */
export type PoolProxy<M> = {
  readonly [K in keyof M as K extends LifeCycleExport
    ? never
    : M[K] extends (...args: never[]) => unknown
      ? K
      : never]: ProxyMethod<M[K]>;
};

type Submit = (input: unknown, opts: SubmitOptions) => Promise<unknown>;

/** The proxy behind `pool.proxy()`: methods made on first use and kept. */
export function createProxy<M>(submit: Submit): PoolProxy<M> {
  const methods = new Map<string, unknown>();
  return new Proxy(Object.create(null) as object, {
    get(_, key) {
      // Not a thenable (so `await pool.proxy()` is the proxy itself), and no symbol methods.
      if (typeof key !== 'string' || key === 'then') return undefined;
      let m = methods.get(key);
      if (!m) {
        const fn = key === 'default' ? undefined : key;
        m = (input: unknown, opts?: Omit<SubmitOptions, 'fn'>) => submit(input, { ...opts, fn });
        methods.set(key, m);
      }
      return m;
    },
  }) as PoolProxy<M>;
}
