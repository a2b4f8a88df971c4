/**
 * Runs the stages of a chain in turn (see chain.ts for the spec, the stats layout and the progress
 * protocol P1-P4 cited here). Used by pool workers for chain tasks, and by the flow layer on the main
 * thread for stages that run there, so both apply policies and count alike.
 *
 * A stage without policies runs synchronously: a chain of plain synchronous functions costs no
 * promise per stage. A stage with a gate, limiter, breaker or timeout, or one whose function returns
 * a promise, continues asynchronously.
 */
import { fastNow as now } from '../../memory/clock.js';
import { TimeoutError } from '../../memory/errors.js';
import { SharedHistogram } from '../../memory/histogram.js';
import {
  type ChainAcquirer,
  type ChainPermit,
  type ChainSpec,
  DONE,
  FAILED,
  INFLIGHT,
  progressAt,
  QUEUED,
  STAGE_WORDS,
  STATE_SPAN,
  FAILED_MARK,
  genOf,
  markedFailed,
  stateOf,
} from './chain.js';
import { ChainAbandonedError, ChainStageError } from '../errors.js';

export type StageFunction = (input: unknown, ctx: StageContext) => unknown;

/** What a stage function receives: the task's signal (or the stage timeout's) and the worker id. */
export interface StageContext {
  readonly signal: AbortSignal;
  readonly workerId: number;
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return x !== null && typeof x === 'object' && typeof (x as PromiseLike<unknown>).then === 'function';
}

async function acquire(a: ChainAcquirer, signal: AbortSignal): Promise<unknown> {
  // TokenBucket.acquire(n, opts); LeakyBucket, SlidingWindowLimiter and Semaphore take (opts) or (n, opts).
  const call = a.acquire as (...args: unknown[]) => Promise<unknown>;
  if (a.handle?.kind === 'LeakyBucket' || a.handle?.kind === 'SlidingWindowLimiter') return call.call(a, { signal });
  return call.call(a, 1, { signal });
}

/** `call(signal)` bounded by `ms`: the signal aborts with a TimeoutError; a sync overrun is caught on return. */
function withTimeout(call: (s: AbortSignal) => unknown, ms: number, parent: AbortSignal): Promise<unknown> {
  const ctl = new AbortController();
  const t0 = now();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => ctl.abort(parent.reason);
    const clear = (): void => {
      clearTimeout(timer);
      parent.removeEventListener('abort', onAbort);
    };
    const timer = setTimeout(() => {
      const err = new TimeoutError(`the stage timed out after ${ms} ms`);
      clear();
      ctl.abort(err);
      reject(err);
    }, ms);
    parent.addEventListener('abort', onAbort, { once: true });
    let r: unknown;
    try {
      r = call(ctl.signal);
    } catch (err) {
      clear();
      reject(err);
      return;
    }
    Promise.resolve(r).then(
      (v) => {
        clear();
        // A synchronous function cannot be interrupted by the timer; it is judged when it returns.
        if (now() - t0 > ms) reject(new TimeoutError(`the stage timed out after ${ms} ms`));
        else resolve(v);
      },
      (err: unknown) => {
        clear();
        reject(err);
      },
    );
  });
}

export class ChainRunner {
  readonly spec: ChainSpec;
  readonly #fns: StageFunction[];
  readonly #stats: Int32Array;
  readonly #hists: SharedHistogram[];
  readonly #plain: boolean[];
  readonly #p0: number;

  constructor(spec: ChainSpec, fns: StageFunction[]) {
    this.spec = spec;
    this.#fns = fns;
    this.#stats = new Int32Array(spec.stats);
    this.#hists = spec.hists.map((h) => new SharedHistogram(h));
    this.#plain = spec.fns.map(
      (_, j) => !spec.breakers[j] && !spec.limiters[j] && !spec.gates[j] && !(spec.timeouts[j] > 0),
    );
    this.#p0 = progressAt(spec.fns.length);
  }

  /**
   * Runs stages [k, e) on `v`. Returns the last stage's output (or a promise of it); throws (or
   * rejects with) ChainStageError naming the stage that failed, or ChainAbandonedError (P2, P3).
   */
  run(v: unknown, k: number, e: number, t: number, g: number, ctx: StageContext): unknown {
    for (let j = k; j < e; j++) {
      if (!this.#plain[j]) return this.#runAsync(v, j, e, t, g, ctx);
      this.#enter(j, t, g);
      const t0 = now();
      let r: unknown;
      try {
        r = this.#fns[j](v, ctx);
      } catch (err) {
        throw this.#fail(j, t, g, t0, v, err);
      }
      if (isThenable(r)) return this.#settleThen(r, v, j, e, t, g, t0, ctx);
      this.#succeed(j, t, g, t0);
      v = r;
    }
    return v;
  }

  async #settleThen(
    p: PromiseLike<unknown>,
    input: unknown,
    j: number,
    e: number,
    t: number,
    g: number,
    t0: number,
    ctx: StageContext,
  ): Promise<unknown> {
    let v: unknown;
    try {
      v = await p;
    } catch (err) {
      throw this.#fail(j, t, g, t0, input, err);
    }
    this.#succeed(j, t, g, t0);
    return this.#runAsync(v, j + 1, e, t, g, ctx);
  }

  async #runAsync(v: unknown, k: number, e: number, t: number, g: number, ctx: StageContext): Promise<unknown> {
    for (let j = k; j < e; j++) v = await this.#stage(v, j, t, g, ctx);
    return v;
  }

  async #stage(v: unknown, j: number, t: number, g: number, ctx: StageContext): Promise<unknown> {
    const spec = this.spec;
    const gate = spec.gates[j];
    const limiter = spec.limiters[j];
    let permit: ChainPermit | undefined;
    if (gate || limiter) {
      // A chain task's progress word already says it waits at stage j; QUEUED counts the others.
      if (t < 0) Atomics.add(this.#stats, j * STAGE_WORDS + QUEUED, 1);
      try {
        if (gate) permit = (await acquire(gate, ctx.signal)) as ChainPermit;
        if (limiter) await acquire(limiter, ctx.signal);
      } catch (err) {
        permit?.release();
        this.#enter(j, t, g);
        throw this.#fail(j, t, g, now(), v, err);
      } finally {
        if (t < 0) Atomics.sub(this.#stats, j * STAGE_WORDS + QUEUED, 1);
      }
    }
    try {
      this.#enter(j, t, g);
      const t0 = now();
      const fn = this.#fns[j];
      const ms = spec.timeouts[j];
      const call = (signal: AbortSignal): unknown =>
        fn(v, signal === ctx.signal ? ctx : { signal, workerId: ctx.workerId });
      const timed = ms > 0 ? (s: AbortSignal) => withTimeout(call, ms, s) : call;
      const breaker = spec.breakers[j];
      let out: unknown;
      try {
        out = await (breaker
          ? breaker.execute(({ signal }) => timed(signal), { signal: ctx.signal })
          : timed(ctx.signal));
      } catch (err) {
        throw this.#fail(j, t, g, t0, v, err);
      }
      this.#succeed(j, t, g, t0);
      return out;
    } finally {
      permit?.release();
    }
  }

  /**
   * P5: marks the item on ticket `t` (generation g) as failed at the stage its word names, counted.
   * For a batch item whose stage threw (ChainStageError); the main thread reads the mark only if the
   * batch dies before its results arrive.
   */
  markFailed(t: number, g: number): void {
    if (t < 0) return;
    const w = this.#p0 + t;
    const v = Atomics.load(this.#stats, w);
    if (genOf(v) === g && stateOf(v) % 2 === 0 && !markedFailed(v)) Atomics.compareExchange(this.#stats, w, v, v + FAILED_MARK);
  }

  /** P2: enter stage j (count it in flight). */
  #enter(j: number, t: number, g: number): void {
    if (t >= 0) {
      const base = g * STATE_SPAN;
      const w = this.#p0 + t;
      if (Atomics.compareExchange(this.#stats, w, base + 2 * j, base + 2 * j + 1) !== base + 2 * j) {
        throw new ChainAbandonedError('the chain task was given up by the main thread');
      }
    }
    Atomics.add(this.#stats, j * STAGE_WORDS + INFLIGHT, 1);
  }

  /** P3: leave stage j; false if the main thread took the task over meanwhile (P4). */
  #leave(j: number, t: number, g: number, ok: boolean): boolean {
    if (t >= 0) {
      const base = g * STATE_SPAN;
      const next = ok ? base + 2 * j + 2 : base + 2 * j;
      if (Atomics.compareExchange(this.#stats, this.#p0 + t, base + 2 * j + 1, next) !== base + 2 * j + 1) {
        return false;
      }
    }
    Atomics.sub(this.#stats, j * STAGE_WORDS + INFLIGHT, 1);
    return true;
  }

  #succeed(j: number, t: number, g: number, t0: number): void {
    this.#hists[j].record(now() - t0);
    if (!this.#leave(j, t, g, true)) throw new ChainAbandonedError('the chain task was given up by the main thread');
    Atomics.add(this.#stats, j * STAGE_WORDS + DONE, 1);
  }

  #fail(j: number, t: number, g: number, t0: number, input: unknown, err: unknown): Error {
    this.#hists[j].record(now() - t0);
    // The main thread counts the failure itself when it took the task over (P4).
    if (!this.#leave(j, t, g, false)) return new ChainAbandonedError('the chain task was given up by the main thread');
    Atomics.add(this.#stats, j * STAGE_WORDS + FAILED, 1);
    return new ChainStageError(`stage ${j} failed`, j, input, { cause: err });
  }
}
