import { now } from '../memory/clock.js';
import { InvalidArgumentError } from '../memory/errors.js';
import { corrupt, defineSharedKind, isReopen, type Reopen, SharedObjectBase } from '../memory/shared-object.js';
import { isThenable } from '../memory/thenable.js';
import { abortError } from '../memory/wait/index.js';
import {
  breakerBytes,
  CLOSED,
  FAILURE,
  FORCED_CLOSED,
  FORCED_OPEN,
  IGNORE,
  initBreakerMemory,
  PERMANENT,
  REFUSED,
  STATE,
  STATE_NAMES,
  SUCCESS,
} from './circuit-breaker-layout.js';
import {
  type BreakerConfig,
  type CircuitBreakerOptions,
  type CircuitState,
  checkBreakerConfig,
  type FailureVerdict,
  resolveBreakerOptions,
} from './circuit-breaker-options.js';
import { BreakerListeners } from './circuit-breaker-listeners.js';
import { BreakerMemory, type BreakerSnapshot, type Transition } from './circuit-breaker-state.js';
import { BrokenCircuitError } from './errors.js';
import { type Subscription } from './events.js';
import {
  checkExecuteOptions,
  checkFunction,
  contextFor,
  type ExecuteOptions,
  type Policy,
  type PolicyContext,
} from './policy.js';

/** A `stateChange` event: the state left and the state entered. */
export type StateChangeEvent = Transition;

/** What `metrics()` returns: counts of the window (as of now) and lifetime totals of all threads. */
export interface CircuitBreakerMetrics extends BreakerSnapshot {
  /** windowFailures / windowCalls (0 for an empty window). */
  failureRate: number;
  /** windowSlowCalls / windowCalls (0 for an empty window). */
  slowCallRate: number;
}

/** The functions of a breaker, which stay in the thread that gave them; `F` as in {@link CircuitBreakerOptions}. */
export interface BreakerFunctions<F = unknown> {
  isFailure?: CircuitBreakerOptions['isFailure'];
  fallback?: CircuitBreakerOptions<F>['fallback'];
}

const KIND = defineSharedKind<BreakerConfig, CircuitBreaker<unknown>>({
  name: 'CircuitBreaker',
  tag: 5,
  layout: 1,
  checkConfig: checkBreakerConfig,
  bodyBytes: breakerBytes,
  init: initBreakerMemory,
  // STATE's low 3 bits are always one of the five state codes.
  checkBody: (sab) => {
    const code = new Int32Array(sab, 0, 1)[STATE] & 7;
    if (code >= STATE_NAMES.length) throw corrupt('CircuitBreaker', `its state code is ${code}`);
  },
  make: (r) => new CircuitBreaker(r),
});

/**
 * A circuit breaker whose whole state lives in shared memory: pass it to many workers and they
 * share one breaker (failures in one open it for all; see `circuit-breaker-state.ts` for the layout).
 *
 * Closed, it admits calls and counts outcomes: it opens after `failureThreshold` failures in a row,
 * or when the failure rate (or the slow-call rate) in the window reaches its threshold once the
 * window holds `minimumCalls`. Open, it refuses calls with {@link BrokenCircuitError} for
 * `resetTimeout` ms (growing by `resetBackoff` after each failed probe); the first call after that
 * moves it to half-open (lazily: there is no timer, so `state` reads `'open'` until a call comes).
 * Half-open admits `halfOpenMaxCalls` probes: all succeed, it closes; one fails, it opens again
 * (with `slowCallDuration` set, so does one that succeeds but is slow, whatever `slowCallRateThreshold`).
 * Probes that have not all reported within `halfOpenTimeout` (one hangs, or ran on a thread that was
 * terminated) count as a failed probe and it opens again; bound the calls
 * (`compose(breaker, new Timeout(ms))`) to learn sooner.
 * Outcomes count only in the state epoch their call was admitted in: a call that began before the
 * breaker opened (or was reset) and fails after it is not counted again.
 *
 * `stateChange` listeners run in every thread that holds the breaker and listens: each thread's
 * instance sleeps in `Atomics.waitAsync` on the state word while it has listeners (a pending wait
 * keeps no process or worker alive), and also checks for news after each of its own calls, so a
 * thread sees its own transitions synchronously. A listener may miss states when more than 16
 * transitions happen before its thread looks; it then gets one event from the state it last saw to
 * the current one.
 *
 * Functions cannot cross threads: `isFailure` and `fallback` stay in the thread that gave them. A
 * breaker rebuilt elsewhere (by `CircuitBreaker.from(received, { isFailure, fallback })`, or by a
 * pool or channel) has the same numeric configuration, and the functions that thread gives it.
 *
 * `F` is what the `fallback` resolves to (inferred from it; `never` without one), so `execute(fn)`
 * is typed `Promise<T | F>`: the function's result, or the fallback's.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker({ failureRateThreshold: 0.5, window: { kind: 'time', size: 10_000 },
 *   minimumCalls: 20, resetTimeout: 5000, resetBackoff: { multiplier: 2, maxDelay: 60_000 },
 *   isFailure: (err) => (err instanceof HttpError && err.status < 500 ? 'ignore' : 'failure') });
 * breaker.on('stateChange', ({ from, to }) => log(`breaker ${from} -> ${to}`));
 * const user = await breaker.execute(({ signal }) => api.getUser(id, { signal }));
 * // in a worker: const b = CircuitBreaker.from(workerData.breaker, { isFailure });
 * ```
 */
export class CircuitBreaker<F = never> extends SharedObjectBase<BreakerConfig> implements Policy<PolicyContext, F> {
  readonly #config: BreakerConfig;
  readonly #mem: BreakerMemory;
  readonly #timed: boolean;
  #isFailure: BreakerFunctions['isFailure'];
  #fallback: BreakerFunctions<F>['fallback'];
  readonly #listeners: BreakerListeners;

  constructor(opts?: CircuitBreakerOptions<F>);
  /** @internal rebuilds over checked memory; use {@link CircuitBreaker.from}. */
  constructor(opts: CircuitBreakerOptions<F> | Reopen<BreakerConfig>);
  constructor(opts: CircuitBreakerOptions<F> | Reopen<BreakerConfig> = {}) {
    super(KIND, isReopen(opts) ? opts : resolveBreakerOptions(opts));
    this.#config = this.handle.config;
    if (!isReopen(opts)) {
      this.#isFailure = opts.isFailure;
      this.#fallback = opts.fallback;
    }
    this.#mem = new BreakerMemory(this.handle.sab, this.#config);
    this.#listeners = new BreakerListeners(this.#mem);
    this.#timed = this.#config.slowCallDuration !== Number.POSITIVE_INFINITY;
  }

  /**
   * The live breaker of this thread for what arrived from another thread (the clone of one, or its
   * `handle`). `fns` gives this thread's `isFailure` and `fallback` (they replace any it had); the
   * result's `F` is inferred from that fallback. In the thread that made it, the result is that
   * same object: without `fns` it keeps its fallback, which this type does not know, and with `fns`
   * its fallback is replaced under its first variable too, whose `F` no longer says so.
   */
  static from<F = never>(received: unknown, fns?: BreakerFunctions<F>): CircuitBreaker<F> {
    const b = KIND.open(received) as CircuitBreaker<F>;
    if (fns !== undefined) {
      if (fns.isFailure !== undefined) checkFunction(fns.isFailure, 'isFailure');
      if (fns.fallback !== undefined) checkFunction(fns.fallback, 'fallback');
      b.#isFailure = fns.isFailure;
      b.#fallback = fns.fallback;
    }
    return b;
  }

  /**
   * Whether this thread's instance holds `isFailure` or `fallback`: functions that a copy of it in
   * another thread (a pool stage's, run in the workers) lacks.
   * Internal (skein's flow layer), not part of the public API.
   * @internal
   */
  get hasFunctions(): boolean {
    return this.#isFailure !== undefined || this.#fallback !== undefined;
  }

  /** The configuration, with defaults filled in (the same in every thread). */
  get config(): BreakerConfig {
    return this.#config;
  }

  /** The state now, as all threads see it. */
  get state(): CircuitState {
    return STATE_NAMES[Atomics.load(this.#mem.v, STATE) & 7];
  }

  /**
   * Runs `fn({ signal })` if the breaker admits it and records how it ended. Refused: rejects with
   * {@link BrokenCircuitError} (or returns what `fallback` gives). Errors of `fn` are rethrown as
   * they are (or given to `fallback` when they count as failures). Resolves to `fn`'s result, or
   * to the fallback's: `Promise<T | F>` (`Promise<T>` for a breaker without a fallback).
   */
  async execute<T>(fn: (ctx: PolicyContext) => T | PromiseLike<T>, opts?: ExecuteOptions): Promise<T | F> {
    if (typeof fn !== 'function') checkFunction(fn, 'CircuitBreaker.execute: fn');
    if (opts !== undefined) {
      checkExecuteOptions(opts, 'CircuitBreaker.execute');
      if (opts.signal?.aborted) throw abortError(opts.signal);
    }
    return await this.#run(fn, opts);
  }

  /**
   * `execute` without options or their checks, and synchronous as far as `fn` is: its value, or its
   * error thrown, when `fn` returns or throws at once (and no fallback returns a promise); otherwise
   * a promise. For the pipeline's worker loop, where a promise per call and stage cost more than a
   * quick stage.
   * Internal (skein's flow layer), not part of the public API.
   * @internal
   */
  callNow<T>(fn: (ctx: PolicyContext) => T | PromiseLike<T>): T | F | Promise<T | F> {
    // A subclass's own execute (logging, metrics) is still the one that runs.
    if (this.execute !== CircuitBreaker.prototype.execute) return this.execute(fn);
    return this.#run(fn, undefined);
  }

  #run<T>(fn: (ctx: PolicyContext) => T | PromiseLike<T>, opts: ExecuteOptions | undefined): T | F | Promise<T | F> {
    const mem = this.#mem;
    const ticket = mem.admit();
    if (ticket === REFUSED) {
      mem.refused();
      this.#listeners.notice();
      const err = new BrokenCircuitError(`the circuit breaker is ${this.state}; call refused`);
      if (this.#fallback !== undefined) return this.#fallback(err) as F | Promise<F>;
      throw err;
    }
    this.#listeners.notice();
    const t0 = this.#timed ? now() : 0;
    let r: T | PromiseLike<T>;
    let later: boolean;
    try {
      r = fn(contextFor(opts));
      later = isThenable(r); // inside: a `then` getter that throws fails the call it let in
    } catch (err) {
      return this.#failed(ticket, t0, err);
    }
    if (later) {
      return Promise.resolve(r).then(
        (v) => this.#succeeded(ticket, t0, v),
        (err: unknown) => this.#failed(ticket, t0, err),
      );
    }
    return this.#succeeded(ticket, t0, r as T);
  }

  #slow(t0: number): boolean {
    return this.#timed && now() - t0 >= this.#config.slowCallDuration;
  }

  #succeeded<T>(ticket: number, t0: number, value: T): T {
    this.#mem.settle(ticket, SUCCESS, this.#slow(t0));
    this.#listeners.notice();
    return value;
  }

  /** Records a failed call, then rethrows its error, or returns what `fallback` gives for it. */
  #failed(ticket: number, t0: number, err: unknown): F | Promise<F> {
    const verdict = this.#classify(err);
    this.#mem.settle(ticket, verdict, this.#slow(t0));
    this.#listeners.notice();
    if (this.#fallback !== undefined && (verdict === FAILURE || verdict === PERMANENT)) {
      return this.#fallback(err) as F | Promise<F>;
    }
    throw err;
  }

  /** Anything `isFailure` returns besides the verdicts, and any error it throws, counts as a failure. */
  #classify(err: unknown): number {
    const f = this.#isFailure;
    if (f === undefined) return FAILURE;
    let r: boolean | FailureVerdict;
    try {
      r = f(err);
    } catch {
      return FAILURE;
    }
    if (r === false || r === 'ignore') return IGNORE;
    if (r === 'success') return SUCCESS;
    if (r === 'permanent') return PERMANENT;
    return FAILURE;
  }

  /** Opens the circuit until `forceClose()` or `reset()`: every call is refused. */
  forceOpen(): void {
    this.#mem.force(FORCED_OPEN);
    this.#listeners.notice();
  }

  /** Holds the circuit closed until `forceOpen()` or `reset()`: every call is admitted, nothing counted. */
  forceClose(): void {
    this.#mem.force(FORCED_CLOSED);
    this.#listeners.notice();
  }

  /** Back to closed with empty counters and no backoff, from any state. */
  reset(): void {
    this.#mem.force(CLOSED);
    this.#listeners.notice();
  }

  /** Counts of the window and lifetime totals, summed over all threads. */
  metrics(): CircuitBreakerMetrics {
    const s = this.#mem.snapshot();
    const n = s.windowCalls;
    return {
      ...s,
      failureRate: n === 0 ? 0 : s.windowFailures / n,
      slowCallRate: n === 0 ? 0 : s.windowSlowCalls / n,
    };
  }

  /** Calls `listener` on each state change made by any thread; see the class notes. */
  on(event: 'stateChange', listener: (e: StateChangeEvent) => void): this {
    if (event !== 'stateChange')
      throw new InvalidArgumentError(`CircuitBreaker has no '${String(event)}' event`);
    checkFunction(listener, 'listener');
    this.#listeners.add(listener);
    return this;
  }

  /** Calls `listener` on every state change (any thread's); what it returns removes it. */
  onStateChange(listener: (e: StateChangeEvent) => void): Subscription {
    return this.#subscribe(() => true, listener, 'onStateChange');
  }

  /** Calls `listener` when the breaker opens (`'open'` or `'forced-open'`), by any thread. */
  onBreak(listener: (e: StateChangeEvent) => void): Subscription {
    return this.#subscribe((e) => e.to === 'open' || e.to === 'forced-open', listener, 'onBreak');
  }

  /** Calls `listener` when the breaker closes again (`'closed'`), by any thread. */
  onReset(listener: (e: StateChangeEvent) => void): Subscription {
    return this.#subscribe((e) => e.to === 'closed', listener, 'onReset');
  }

  /** Calls `listener` when the breaker lets probes through (`'half-open'`), by any thread. */
  onHalfOpen(listener: (e: StateChangeEvent) => void): Subscription {
    return this.#subscribe((e) => e.to === 'half-open', listener, 'onHalfOpen');
  }

  #subscribe(
    pick: (e: StateChangeEvent) => boolean,
    listener: (e: StateChangeEvent) => void,
    what: string,
  ): Subscription {
    checkFunction(listener, `CircuitBreaker.${what}: listener`);
    const l = (e: StateChangeEvent): void => {
      if (pick(e)) listener(e);
    };
    this.on('stateChange', l);
    const dispose = (): void => {
      this.off('stateChange', l);
    };
    return { dispose, [Symbol.dispose]: dispose };
  }

  /** Removes a listener; with the last one gone this thread stops watching. */
  off(event: 'stateChange', listener: (e: StateChangeEvent) => void): this {
    if (event !== 'stateChange')
      throw new InvalidArgumentError(`CircuitBreaker has no '${String(event)}' event`);
    this.#listeners.remove(listener);
    return this;
  }
}
