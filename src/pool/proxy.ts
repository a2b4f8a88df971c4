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
 * Names a proxy never turns into a task: `then` (so awaiting a proxy gives it back) and the names of
 * Object.prototype and `toJSON`, which JSON.stringify, string conversion and inspection look up on any
 * object. Were they methods, `JSON.stringify(proxy)` or `` `${proxy}` `` would submit tasks whose
 * rejections (TaskFunctionNotFoundError) nobody handles. An export of one of these names is still
 * reached with `pool.submit(input, { fn: name })`.
 */
export type ProxyReservedName = 'then' | 'toJSON' | keyof typeof Object.prototype | '__proto__';

const RESERVED: ReadonlySet<string> = new Set<string>([
  'then',
  'toJSON',
  '__proto__',
  ...Object.getOwnPropertyNames(Object.prototype),
]);

/**
 * The methods of `pool.proxy<M>()`: one per function export of the task module `M` (`default`
 * included; `setup`, `teardown` and the {@link ProxyReservedName}s left out).
 */
export type PoolProxy<M> = {
  readonly [K in keyof M as K extends LifeCycleExport | ProxyReservedName
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
      // Not a thenable (so `await pool.proxy()` is the proxy itself), no symbol methods, and none
      // for the names generic code probes on any object (see ProxyReservedName).
      if (typeof key !== 'string' || RESERVED.has(key)) return undefined;
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
