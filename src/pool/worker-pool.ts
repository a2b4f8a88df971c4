/**
 * `WorkerPool`: worker threads fed through shared-memory rings (see main/pool-core.ts and main/dispatch.ts for how).
 */
import { fastNow as now } from '../memory/clock.js';
import { summarize } from '../memory/histogram.js';
import { AbortError, InvalidArgumentError } from '../memory/errors.js';
import { boolean, describeValue, integer, invalid, object, onlyKeys, optionsObject } from '../memory/validate.js';
import { checkWaitOptions, type WaitOptions } from '../memory/wait/index.js';
import { DrainEvents } from './drain-events.js';
import { PoolClosedError, QueueFullError } from './errors.js';
import {
  BatchCollector,
  cancelTasksOf,
  checkSubmitKeys,
  type HealthStatus,
  intake,
  isStuck,
  MAP_KEYS,
  mapThroughPool,
  PoolCore,
  type PoolMetrics,
  queueFull,
  resolveOptions,
  type SubmitOptions,
  type WorkerEntry,
  type WorkerPoolOptions,
} from './main/index.js';
import { createProxy, type PoolProxy } from './proxy.js';
import type {
  TASK_MODULE,
  DefaultName, SubmitInput, SubmitName, SubmitResult, TypedSubmitOptions, UntypedModule } from './task-types.js';
import { EXEC_TASK, type ExecInput, functionSource, W_DONE, W_FAILED, W_INFLIGHT } from './shared/index.js';

/**
 * What protective mode (PatternRegistry, in src/observe) steers of a pool's size: a cap under the
 * configured minWorkers and maxWorkers, which it sets and lifts without changing them. Reached with
 * {@link workerLimit}; `skein/internal` only, not the package root.
 */
export interface WorkerLimit {
  /** The size the pool keeps or is heading to: its workers not asked to leave, at least minWorkers, at most maxWorkers (both under the cap). */
  readonly size: number;
  /** Most workers it may have now: maxWorkers, or the cap if lower. */
  readonly maxWorkers: number;
  /**
   * Caps the pool at `n` (>= 1) workers, or lifts the cap (`undefined`). Workers above the cap leave
   * once they hold no task (idle ones first); growth, replacements, scaleUp and minWorkers stop at
   * it. Lifted, the pool starts what minWorkers and waiting tasks want. Returns the new {@link size}.
   */
  set(n: number | undefined): number;
}

let coreOf: (pool: WorkerPool) => PoolCore;
let phaseOf: (pool: WorkerPool) => PoolPhase;

/**
 * Where a pool is in its life: `'open'` until `close()` is called, `'closing'` while that close
 * waits for its tasks and workers, `'closed'` once it has settled. `'broken'` is an open pool that
 * gave up on its workers because they cannot start (its task module fails to load, its `setup()`
 * throws or never settles, its workers die before they are ready): it rejects every task with that
 * error (WorkerModuleError, WorkerSetupError, WorkerBootError) and starts no worker again; closing
 * it makes it `'closing'`, then `'closed'`. A pool past `'open'` takes no new task. Reached with
 * {@link poolPhase}; `skein/internal` only, not the package root.
 */
export type PoolPhase = 'open' | 'broken' | 'closing' | 'closed';

/** The {@link PoolPhase} of `pool` (what serveMetrics' `/health` reports for it). */
export function poolPhase(pool: WorkerPool): PoolPhase {
  return phaseOf(pool);
}

/**
 * `pool.submit` for a caller that bounds its own window (fanOut): with a `maxQueue`, the task waits
 * for room in the queue, as map()'s do, instead of failing with QueueFullError. `skein/internal`
 * only, not the package root.
 */
export function submitWhenRoom<R>(pool: WorkerPool, input: unknown, opts: SubmitOptions): Promise<R> {
  const submit = (): Promise<R> => pool.submit<R>(input, opts as TypedSubmitOptions<UntypedModule, string>);
  // A pool of another copy of skein is no WorkerPool here: its tasks are submitted as they come.
  if (!(pool instanceof WorkerPool)) return submit();
  const core = coreOf(pool);
  if (core.o.maxQueue === Infinity) return submit();
  const room = (): boolean => takesTask(pool, core);
  if (!room()) {
    // Checked again once woken: every waiter wakes when one place frees.
    const wait = opts.signal ? { signal: opts.signal } : undefined;
    return core.settlement.waitFor(room, wait, 'queue room').then(() => submitWhenRoom<R>(pool, input, opts));
  }
  // queueFull reads counts that the workers change meanwhile: a task being claimed counts neither as
  // waiting nor as running between the worker's two stores (claim C4), so room can be seen that is
  // gone a moment later, and the submit is refused (rightly). It tries again on the next turn.
  return submit().catch((err: unknown) => {
    if (!(err instanceof QueueFullError)) throw err;
    return new Promise<void>((r) => setImmediate(r)).then(() => submitWhenRoom<R>(pool, input, opts));
  });
}

/**
 * Whether `pool` takes a task now: room in its queue (maxQueue), or past 'open' (closed, broken),
 * where it refuses the task with its own error. A wait for room must end there too: the counts of
 * workers closed with force stay as they were, so the queue reads full for good.
 */
function takesTask(pool: WorkerPool, core: PoolCore): boolean {
  return !queueFull(core) || phaseOf(pool) !== 'open';
}

/** The size cap of `pool` (see {@link WorkerLimit}). */
export function workerLimit(pool: WorkerPool): WorkerLimit {
  const workers = coreOf(pool).workers;
  return {
    get size() {
      return workers.size;
    },
    get maxWorkers() {
      return workers.maxWorkers;
    },
    set: (n) => workers.setLimit(n),
  };
}

/**
 * A pool of worker threads running the functions of one task module.
 *
 * A task module exports a default and/or named functions `(input, ctx) => output | Promise<output>`,
 * where `ctx` has `signal` and `workerId`. Errors keep their class name, message, stack, `cause` and
 * own fields across the thread.
 *
 * `M`, the task module's type, is optional: given once (`new WorkerPool<typeof import('./hash.js')>`),
 * `submit`, `run`, `submitBatch`, `map` and `proxy` check each input against its function's first
 * parameter and `opts.fn` against the module's function names, and resolve to the function's
 * (awaited) result. Without it they accept anything and resolve to `unknown` (or the `R` given).
 * Nothing is checked at run time beyond the function's existence.
 *
 * @example
 * ```ts
 * const pool = new WorkerPool<typeof import('./hash.js')>({ filename: new URL('./hash.js', import.meta.url) });
 * const digest = await pool.submit(buffer, { fn: 'sha256', priority: 8, timeout: 1000 }); // sha256's result
 * const all = await pool.submitBatch(inputs); // the default export's results
 * for await (const out of pool.map(lines, { ordered: false })) console.log(out);
 * await pool.close();
 * ```
 */
export class WorkerPool<M = UntypedModule> {
  /** Type only (no value is stored): the task module type, for what reads it off a pool (a pipeline's pool stage). */
  declare readonly [TASK_MODULE]?: M;
  readonly #core: PoolCore;
  readonly #startedAt = now();
  readonly #drain: DrainEvents;
  #closed: Promise<void> | undefined;
  #forced = false;
  #phase: PoolPhase = 'open';

  static {
    coreOf = (pool) => pool.#core;
    // Broken is the workers' state (worker-lifecycle.ts), for good once reached; a close says more.
    phaseOf = (pool) => (pool.#phase === 'open' && pool.#core.workers.broken ? 'broken' : pool.#phase);
  }

  constructor(options: WorkerPoolOptions);
  /** @internal `dynamic` picks DynamicWorkerPool's defaults; users construct that subclass instead. */
  constructor(options: WorkerPoolOptions, dynamic: boolean);
  constructor(options: WorkerPoolOptions, dynamic = false) {
    const core = new PoolCore(resolveOptions(options, dynamic, `${new.target.name} options`));
    this.#core = core;
    this.#drain = new DrainEvents(
      () => this.getQueueLength(),
      (cond) => core.settlement.waitFor(cond),
    );
    for (let i = 0; i < core.o.minWorkers; i++) core.workers.spawn();
    // Options new Worker refused: said at the call site, as a bad option is.
    const broken = core.workers.broken;
    if (broken) throw broken;
  }

  /**
   * Runs `input` through the module's function (`opts.fn`; the default export by default).
   * Rejects with the task's error, TimeoutError, AbortError, QueueFullError, PoolClosedError,
   * SerializationError (an input that cannot be copied) or WorkerCrashedError.
   *
   * With the module type `M` given to the pool, `input` and `opts.fn` are checked against the
   * module and the result is typed from it (`R` is then ignored); without it, the result is `R`.
   *
   * @example
   * ```ts
   * const pool = new FixedWorkerPool<typeof import('./task.js')>(2, { filename });
   * const total: number = await pool.submit({ qty: 3, price: 7 }); // the default export
   * const hello: string = await pool.submit('ada', { fn: 'greet' }); // greet's input and result
   * ```
   */
  submit<R = unknown, K extends SubmitName<M> = DefaultName<M>>(
    input: SubmitInput<M, K>,
    opts?: TypedSubmitOptions<M, K>,
  ): Promise<SubmitResult<M, K, R>> {
    return this.#submit(input, opts) as Promise<SubmitResult<M, K, R>>;
  }

  #submit(input: unknown, opts: SubmitOptions | undefined): Promise<unknown> {
    const p = new Promise<unknown>((resolve) => {
      intake(this.#core, input, opts, resolve, 0);
    });
    this.#drain.arm();
    return p;
  }

  /**
   * A typed face of the task module: one method per exported function, taking its input and
   * resolving to its output (`T` is the module's type, by default the pool's `M`; nothing is
   * checked at run time).
   *
   * @example
   * ```ts
   * const hash = pool.proxy<typeof import('./hash.js')>();
   * const digest: string = await hash.sha256(buffer, { priority: 8 });
   * ```
   */
  proxy<T = M>(): PoolProxy<T> {
    // Through the public submit, so a pool whose submit is traced (tracePool, serveMetrics) traces
    // these calls too: they published nothing.
    return createProxy<T>((input, opts) => this.submit(input as never, opts as never));
  }

  /** `submit` under piscina's name: runs `input` through the module's function `opts.fn`. */
  run<R = unknown, K extends SubmitName<M> = DefaultName<M>>(
    input: SubmitInput<M, K>,
    opts?: TypedSubmitOptions<M, K>,
  ): Promise<SubmitResult<M, K, R>> {
    return this.submit<R, K>(input, opts);
  }

  /**
   * Runs a self-contained function in a worker: `fn(...args)`, resolving to what it returns (or
   * resolves to). `fn` travels as source text, so it sees only its arguments and the worker's
   * globals; reading a variable it closed over rejects with ClosureVariableError naming it.
   *
   * @example
   * ```ts
   * const n = await pool.exec((a: number, b: number) => a * b, 6, 7); // 42
   * ```
   */
  exec<F extends (...args: never[]) => unknown>(fn: F, ...args: Parameters<F>): Promise<Awaited<ReturnType<F>>> {
    let source: string;
    try {
      source = functionSource(fn, 'pool.exec\'s function');
    } catch (err) {
      return Promise.reject(err);
    }
    const input: ExecInput = { source, args };
    return this.submit(input as never, { fn: EXEC_TASK } as never) as Promise<Awaited<ReturnType<F>>>;
  }

  /** Runs every input; resolves to the outputs in input order, or rejects with the first error. */
  submitBatch<R = unknown, K extends SubmitName<M> = DefaultName<M>>(
    inputs: Iterable<SubmitInput<M, K>>,
    opts?: TypedSubmitOptions<M, K>,
  ): Promise<SubmitResult<M, K, R>[]> {
    if (!isIterable(inputs)) {
      const got = describeValue(inputs);
      return Promise.reject(new InvalidArgumentError(`Expected submitBatch inputs to be an iterable, got ${got}`));
    }
    const items: unknown[] = Array.isArray(inputs) ? inputs : [...inputs];
    return new Promise<SubmitResult<M, K, R>[]>((resolve, reject) => {
      const c = new BatchCollector(items.length, resolve as (v: unknown[]) => void, reject);
      for (let i = 0; i < items.length; i++) intake(this.#core, items[i], opts, c, i);
      this.#drain.arm();
    });
  }

  /**
   * Runs every input of a (possibly endless, possibly async) iterable with at most `window` in
   * flight, yielding outputs in input order (`ordered: true`, the default) or as they finish. With a
   * `maxQueue`, it waits for room in the queue before each input rather than failing with
   * QueueFullError; a close ends that wait (the map rejects with PoolClosedError), as its `signal`
   * does (AbortError). It takes no more inputs once one of its tasks failed, since it ends at that
   * error. A map that ends early (a `break`, a task's failure) cancels its tasks still in the pool:
   * the queued ones never run, running ones see `ctx.signal` fire.
   */
  map<R = unknown, K extends SubmitName<M> = DefaultName<M>>(
    inputs: Iterable<SubmitInput<M, K>> | AsyncIterable<SubmitInput<M, K>>,
    opts?: TypedSubmitOptions<M, K> & { ordered?: boolean; window?: number },
  ): AsyncIterable<SubmitResult<M, K, R>> {
    const o = this.#core.o;
    // Checked at the call: a window below 1 (or not a number) submitted nothing and waited for ever.
    if (!isIterable(inputs) && !isAsyncIterable(inputs)) invalid('map inputs', 'an iterable or an async iterable', inputs);
    if (opts !== undefined) checkSubmitKeys(object(opts, 'map options'), 'map options', MAP_KEYS);
    if (opts?.ordered !== undefined && typeof opts.ordered !== 'boolean') invalid('ordered', 'a boolean', opts.ordered);
    const window =
      opts?.window === undefined
        ? Math.max(64, o.maxWorkers * o.concurrency * 32)
        : integer(opts.window, 'window', { min: 1, infinity: true });
    const core = this.#core;
    // Each task gets the submit options alone (a submit refuses `ordered` and `window`).
    let each: SubmitOptions | undefined = opts;
    if (opts !== undefined && (opts.ordered !== undefined || opts.window !== undefined)) {
      const { ordered: _ordered, window: _window, ...rest } = opts;
      each = rest;
    }
    // With a maxQueue, each input waits for room. The wait ends too once the pool leaves 'open'
    // (the input then fails with the pool's error): a forced close leaves the counts full for good,
    // and a wait on !queueFull alone hung the map for ever. The map's signal ends it with AbortError:
    // a running task deaf to its signal held the wait (and the map) until it ended or its worker was
    // killed, killGrace later. An invalid signal is left to the submit, which refuses it. The signal
    // gets a watcher only while a wait lasts: nothing per task.
    const signal = opts?.signal instanceof AbortSignal ? { signal: opts.signal } : undefined;
    const takes = (): boolean => takesTask(this, core);
    const room =
      o.maxQueue === Infinity
        ? undefined
        : () => (takes() ? undefined : core.settlement.waitFor(takes, signal, 'pool.map queue room'));
    return mapThroughPool<SubmitResult<M, K, R>>(
      inputs,
      opts?.ordered ?? true,
      window,
      (input, c, i) => {
        intake(core, input, each, c, i, room === undefined);
        this.#drain.arm();
      },
      room,
      (c) => cancelTasksOf(core, c, new AbortError('pool.map ended before its last output')),
    );
  }

  /**
   * Whether the pool holds as many waiting tasks as it should be fed: `maxQueue` of them, or (with
   * no `maxQueue`) as many as its workers can run at once. A producer pauses until `'drain'`.
   */
  get needsDrain(): boolean {
    const o = this.#core.o;
    const limit = o.maxQueue === Infinity ? this.#core.workers.maxWorkers * o.concurrency : o.maxQueue;
    return this.getQueueLength() >= Math.max(1, limit);
  }

  /**
   * `'drain'`: `listener` is called each time the waiting tasks run out (all have started) after
   * some were waiting. Returns the pool, as an EventEmitter's `on` does.
   *
   * @example
   * ```ts
   * pool.on('drain', () => stream.resume());
   * if (pool.needsDrain) stream.pause();
   * ```
   */
  on(event: 'drain' | 'error', listener: () => void): this {
    this.#drain.on(event, listener);
    return this;
  }

  /**
   * `on` for the next `'drain'` only. `await once(pool, 'drain')` (node:events) works too: it adds
   * an `'error'` listener beside, which the pool takes and never calls (each task's promise carries
   * its failure).
   */
  once(event: 'drain' | 'error', listener: () => void): this {
    this.#drain.once(event, listener);
    return this;
  }

  /** Removes a listener added with `on` or `once`. */
  off(event: 'drain' | 'error', listener: () => void): this {
    this.#drain.off(event, listener);
    return this;
  }

  /**
   * Starts `n` more workers now, never past maxWorkers (it clamps), and gives back to minWorkers
   * what scaleDown took (never past the configured minWorkers). `n` is an integer >= 0 (Infinity:
   * up to maxWorkers); anything else throws InvalidArgumentError.
   */
  scaleUp(n = 1): void {
    // Checked here: NaN made minWorkers NaN (crashed workers were no longer replaced), -1 lowered it.
    this.#core.workers.scaleUp(integer(n, 'scaleUp count', { min: 0, infinity: true }));
  }

  /**
   * Asks `n` workers to leave once they hold no task (idle ones first); minWorkers drops with them.
   * `n` is an integer >= 0 (Infinity: all of them).
   */
  scaleDown(n = 1): void {
    this.#core.workers.scaleDown(integer(n, 'scaleDown count', { min: 0, infinity: true }));
  }

  getWorkerCount(): number {
    return this.#core.workers.workerCount;
  }

  /** Tasks waiting to start: queued on the main thread or in the rings. */
  getQueueLength(): number {
    const { mem, dispatch, workers } = this.#core;
    // Once the workers are stopped, records a forced close left in the rings belong to tasks it
    // already rejected and nobody will claim: counting them kept drain() pending forever. The same
    // holds once the pool gave up on its workers (broken): its tasks were rejected with its error.
    const gone = workers.stopped || workers.broken !== undefined;
    return mem.queue.length + (gone ? 0 : Math.max(0, dispatch.ringBacklog()));
  }

  /** Whether no task is queued or running. */
  isIdle(): boolean {
    return this.#core.settlement.isIdle();
  }

  /**
   * Resolves once no task waits to start, so the queue has room again (see `maxQueue`). Like every
   * async wait it takes `{ signal, timeout }`: it rejects with AbortError or TimeoutError (the tasks
   * stay queued and run).
   */
  async drain(opts?: WaitOptions): Promise<void> {
    checkWaitOptions(opts, 'drain options');
    return this.#core.settlement.waitFor(() => this.getQueueLength() === 0, opts, 'WorkerPool.drain');
  }

  /**
   * Per worker: alive, busy, tasks done and failed, last error, event-loop utilization. It describes
   * the workers, not the pool: a closing pool's workers may all read healthy, and a closed pool has
   * none (an empty list). serveMetrics' `/health` reports a pool that is closing or closed as such.
   */
  getHealthStatus(): HealthStatus[] {
    const { mem, o, workers } = this.#core;
    const t = now();
    const out: HealthStatus[] = [];
    for (const e of workers.entries) {
      if (!e) continue;
      const inflight = mem.workerWord(e.index, W_INFLIGHT);
      let elu = 0;
      try {
        elu = e.worker.performance.eventLoopUtilization().utilization;
      } catch {
        elu = 0;
      }
      out.push({
        workerId: e.id,
        alive: !e.exited,
        ready: e.ready,
        busy: inflight > 0,
        // counts only grow: unsigned, 2^32 - 1 before a wrap to 0 (signed, they went negative past 2^31)
        tasksDone: mem.workerWord(e.index, W_DONE) >>> 0,
        tasksFailed: mem.workerWord(e.index, W_FAILED) >>> 0,
        lastError: e.lastError,
        eventLoopUtilization: elu,
        utilization: this.#utilization(e, t),
        idleMs: inflight > 0 ? 0 : t - mem.times[mem.L.active + e.index],
        healthy: !e.exited && !isStuck(mem, e, t, o.unhealthyAfter),
      });
    }
    return out;
  }

  /**
   * Terminates workers stuck on one task past `unhealthyAfter` ms without progress (their tasks reject with
   * WorkerCrashedError) and starts replacements. Resolves to how many were restarted.
   */
  async restartUnhealthyWorkers(): Promise<number> {
    const { mem, o, workers } = this.#core;
    const t = now();
    const stuck = workers.entries.filter(
      (e): e is WorkerEntry => !!e && !e.exited && isStuck(mem, e, t, o.unhealthyAfter),
    );
    for (const e of stuck)
      e.lastError = new Error(`worker ${e.id} was stuck past ${o.unhealthyAfter} ms and was restarted`);
    await Promise.all(stuck.map((e) => e.terminate()));
    return stuck.length;
  }

  metrics(): PoolMetrics {
    const { mem, workers, settlement, dispatch } = this.#core;
    let busy = 0;
    for (const e of workers.entries) if (e && mem.workerWord(e.index, W_INFLIGHT) > 0) busy++;
    const run = summarize(workers.indexMem.map((m) => m.runHist));
    const elapsed = now() - this.#startedAt;
    // Per task slot, as #utilization counts a worker: overlapping tasks would otherwise read as full.
    const capacity = elapsed * Math.max(1, workers.peakWorkers) * this.#core.o.concurrency;
    return {
      workers: workers.workerCount,
      peakWorkers: workers.peakWorkers,
      busy,
      queued: this.getQueueLength(),
      inFlight: mem.slots.inUse,
      completed: settlement.completed,
      failed: settlement.failed,
      waitTime: summarize(workers.indexMem.map((m) => m.waitHist)),
      runTime: run,
      utilization: capacity > 0 ? Math.min(1, (run.mean * run.count) / capacity) : 0,
      mainSpins: { tries: dispatch.spin.tries, hits: dispatch.spin.hits },
      workerUtilization: workers.entries
        .filter((e): e is WorkerEntry => !!e && !e.exited)
        .map((e) => ({ workerId: e.id, utilization: this.#utilization(e, now()) })),
    };
  }

  /** A worker's time running tasks over its time alive (0..1; overlapping tasks count per slot). */
  #utilization(e: WorkerEntry, t: number): number {
    const { mem, o } = this.#core;
    const wall = t - e.startedAt;
    return wall > 0 ? Math.min(1, mem.times[mem.L.busy + e.index] / (wall * o.concurrency)) : 0;
  }

  /**
   * Stops the pool. By default runs everything already submitted first; with `force: true` rejects
   * what is queued or running with PoolClosedError and terminates the workers. Always settles;
   * afterwards the pool holds no handle, so the process can exit. A graceful close waits for every
   * running task, so one that never ends (an endless loop without a `timeout`) holds it: give tasks
   * a `timeout` (or `taskTimeout`), or close with `force: true` after a deadline of your own.
   * Anything but `undefined` or `{ force?: boolean }` (an array, another key: close takes no
   * `timeout`) rejects with InvalidArgumentError and leaves the pool as it was.
   */
  close(opts?: { force?: boolean }): Promise<void> {
    // Checked first: close('force'), close(true) or close({ force: 'yes' }) closed gracefully (or,
    // for a truthy force, with force) as if the argument were fine; close([]) closed gracefully, and
    // close({ timeout: 5000 }) waited for a stuck task for ever, its timeout ignored.
    try {
      const o = optionsObject(opts, 'close options');
      if (o !== undefined) {
        if (Array.isArray(o)) invalid('close options', 'an object', o);
        if (onlyKeys(o, 'close options', ['force']).force !== undefined) boolean(o.force, 'close option force');
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const core = this.#core;
    if (this.#closed) {
      // A forced close overrides a graceful one still waiting for work to finish.
      if (opts?.force && !this.#forced) {
        this.#forced = true;
        core.settlement.rejectAll(new PoolClosedError('the pool was closed with force'));
        // Stop the workers now, so none runs the rejected tasks; freeing their slots then lets the
        // graceful close's wait for idleness end.
        void this.#stopWorkers();
      }
      return this.#closed;
    }
    this.#forced = !!opts?.force;
    const { settlement } = core;
    core.workers.beginClose();
    this.#phase = 'closing';
    this.#closed = (async () => {
      try {
        if (opts?.force) settlement.rejectAll(new PoolClosedError('the pool was closed with force'));
        else await settlement.waitFor(() => settlement.isIdle());
        core.sweeper.stop();
        await this.#stopWorkers();
        // Anything still out (a worker that died mid-close) must settle too.
        settlement.rejectAll(new PoolClosedError('the pool closed'));
      } finally {
        this.#phase = 'closed';
      }
    })();
    return this.#closed;
  }

  /** Tells every worker to stop, terminates them, and frees what they held (once they are gone). */
  #stopWorkers(): Promise<void> {
    return this.#core.workers.stopAll(this.#forced);
  }

  /** `await using pool = new WorkerPool(...)` closes it at scope end. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function isIterable(x: unknown): x is Iterable<unknown> {
  return x != null && typeof (x as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function';
}

function isAsyncIterable(x: unknown): x is AsyncIterable<unknown> {
  return x != null && typeof (x as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}
