/**
 * Types read off a task module's type `M` (`typeof import('./task.js')`), given once to the pool
 * (`new WorkerPool<M>(...)`): which functions it exports, what each takes and what it resolves to.
 * `submit`, `run`, `submitBatch`, `map` and `proxy` check against them. Without a module type
 * (`M` is `UntypedModule`, the default, or `unknown`) every name and input is accepted.
 */
import type { SubmitOptions } from './main/index.js';

/**
 * A pool's module type when none is given: every name and input goes. `any` rather than `unknown`
 * so that a typed pool (`WorkerPool<typeof import('./m.js')>`) is still a plain `WorkerPool` (what
 * a pipeline stage or `fanOut` takes): the conditional types below make `M` invariant, and only
 * `any` relates to every module type both ways. Every type here reads `any` as "untyped".
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the one `any`, for the reason above
export type UntypedModule = any;

/** Exports a task module has besides its task functions (see `setup`/`teardown`). */
export type LifeCycleExport = 'setup' | 'teardown';

/** The names of the task functions of module type `M` (`default` included, `setup`/`teardown` not). */
export type TaskName<M> = {
  [K in keyof M]-?: K extends LifeCycleExport ? never : M[K] extends (...args: never[]) => unknown ? K : never;
}[keyof M] &
  string;

/** A task function's input: its first parameter (`unknown` for a function that takes none). */
export type TaskInput<F> = F extends (input: infer I, ...rest: never[]) => unknown ? I : never;

/** A task function's output: what it returns, awaited. */
export type TaskOutput<F> = F extends (...args: never[]) => infer R ? Awaited<R> : never;

/** `opts.fn` a pool of module type `M` accepts: any string for an untyped pool. */
export type SubmitName<M> = unknown extends M ? string : TaskName<M>;

/** The function a task without `opts.fn` runs: the default export (`never` if `M` has none). */
export type DefaultName<M> = unknown extends M ? string : Extract<TaskName<M>, 'default'>;

/** The input `submit` takes for function `K` of module type `M`. */
export type SubmitInput<M, K> = unknown extends M ? unknown : K extends keyof M ? TaskInput<M[K]> : never;

/** What `submit` resolves to for function `K` of `M`: `R` (default `unknown`) for an untyped pool. */
export type SubmitResult<M, K, R> = unknown extends M ? R : K extends keyof M ? TaskOutput<M[K]> : never;

/** `submit`'s options for module type `M`: `fn` is one of its function names. */
export type TypedSubmitOptions<M, K> = unknown extends M ? SubmitOptions : Omit<SubmitOptions, 'fn'> & { fn?: K };

/** The key of a pool's type-only record of its module type (nothing is stored under it). */
export declare const TASK_MODULE: unique symbol;

/** The task module type `M` of a pool `P` (`UntypedModule` for an untyped one). */
export type ModuleOf<P> = P extends { readonly [TASK_MODULE]?: infer M } ? M : UntypedModule;
