/**
 * Runs the stages of a chain in turn (see chain.ts for the spec, the stats layout and the progress
 * protocol P1-P4 cited here). Used by pool workers for chain tasks, and by the flow layer on the main
 * thread for stages that run there, so both apply policies and count alike.
 *
 * A stage without policies, or with only a timeout and a breaker, runs synchronously: a chain of
 * synchronous functions costs no promise per stage (a timeout costs a timer only for a call that
 * returns a promise: stage-timeout.ts; a breaker is asked and told synchronously: callNow). A stage
 * with a gate or limiter, or one whose function returns a promise, continues asynchronously.
 */
import { fastNow as now } from '../../memory/clock.js';
import { SharedHistogram } from '../../memory/histogram.js';
import {
  type ChainAcquirer,
  type ChainBreaker,
  type ChainPermit,
  type ChainSpec,
  DONE,
  FAILED,
  INFLIGHT,
  LEFT_MARK,
  ownerAt,
  progressAt,
  QUEUED,
  STAGE_WORDS,
  STATE_SPAN,
  FAILED_MARK,
} from './chain.js';
import { ChainAbandonedError, ChainStageError } from '../errors.js';
import { callTimed } from './stage-timeout.js';
import { isThenable } from '../../memory/thenable.js';
import { travellingCause } from '../../memory/error-codec.js';

export type StageFunction = (input: unknown, ctx: StageContext) => unknown;

/** What a stage function receives: the task's signal (or the stage timeout's) and the worker id. */
export interface StageContext {
  readonly signal: AbortSignal;
  readonly workerId: number;
}

async function acquire(a: ChainAcquirer, signal: AbortSignal): Promise<unknown> {
  // TokenBucket.acquire(n, opts); LeakyBucket, SlidingWindowLimiter and Semaphore take (opts) or (n, opts).
  const call = a.acquire as (...args: unknown[]) => Promise<unknown>;
  if (a.handle?.kind === 'LeakyBucket' || a.handle?.kind === 'SlidingWindowLimiter') return call.call(a, { signal });
  return call.call(a, 1, { signal });
}

/** A stage's call through its breaker (one with callNow: see #direct), under its timeout if it has one. */
function callThrough(breaker: ChainBreaker, ms: number, fn: StageFunction, v: unknown, ctx: StageContext): unknown {
  return (breaker.callNow as NonNullable<ChainBreaker['callNow']>)(() => (ms > 0 ? callTimed(ms, ctx, fn, v) : fn(v, ctx)));
}

/**
 * One try of a main-thread stage (LocalSegment), playing the part a progress word plays for a pool
 * try (chain.ts P2-P4), on one thread: where its runner is, and whether the main thread gave the
 * try up ({@link ChainRunner.abandon}). A given-up call that ends later counts nothing: the try was
 * counted once, when it was given up.
 */
export class LocalTry {
  /** Not yet in its stage; in it (INFLIGHT counts it); left it, counted DONE or FAILED; given up. */
  state: 'before' | 'in' | 'done' | 'failed' | 'given-up' = 'before';
  /** The stage it entered (-1: none yet). */
  stage = -1;
}

export class ChainRunner {
  readonly spec: ChainSpec;
  readonly #fns: StageFunction[];
  readonly #stats: Int32Array;
  readonly #hists: SharedHistogram[];
  /** Per stage run directly by run(): its timeout in ms, 0 for none; -1 for one with a gate, a limiter or a breaker without callNow (#stage). */
  readonly #direct: number[];
  readonly #p0: number;
  readonly #o0: number;

  constructor(spec: ChainSpec, fns: StageFunction[]) {
    this.spec = spec;
    this.#fns = fns;
    this.#stats = new Int32Array(spec.stats);
    this.#hists = spec.hists.map((h) => new SharedHistogram(h));
    this.#direct = spec.fns.map((_, j) =>
      spec.limiters[j] || spec.gates[j] || (spec.breakers[j] && !spec.breakers[j].callNow) ? -1 : Math.max(0, spec.timeouts[j]),
    );
    this.#p0 = progressAt(spec.fns.length);
    this.#o0 = ownerAt(spec.fns.length, this.#stats.length);
  }

  /**
   * Runs stages [k, e) on `v`. Returns the last stage's output (or a promise of it); throws (or
   * rejects with) ChainStageError naming the stage that failed, or ChainAbandonedError (P2, P3).
   */
  run(v: unknown, k: number, e: number, t: number, g: number, ctx: StageContext, local?: LocalTry): unknown {
    // P6: before any P2 CAS, and only while the ticket is still this try's: the rest of a batch runs
    // on after the main thread gave the batch up (its worker reads the abort only between tasks), and
    // its runner must not name itself owner of a ticket that a rerun of the item now runs on.
    if (t >= 0 && Atomics.load(this.#stats, this.#p0 + t) === g * STATE_SPAN + 2 * k) {
      Atomics.store(this.#stats, this.#o0 + t, ctx.workerId + 1);
    }
    return this.#from(v, k, e, t, g, ctx, local);
  }

  /**
   * The main thread gives up `local`'s try of stage j (its run stopped while the call still runs),
   * as P4 gives up a pool try: the try counts as failed now, once (an INFLIGHT it held is taken back,
   * a DONE it was counted is taken back, as its output never reaches the run; one its runner
   * already counted failed is left), and its runner counts nothing more when the call ends.
   */
  abandon(local: LocalTry, j: number): void {
    const was = local.state;
    if (was === 'given-up') return;
    local.state = 'given-up';
    if (was === 'failed') return;
    const at = local.stage >= 0 ? local.stage : j;
    if (was === 'in') Atomics.sub(this.#stats, at * STAGE_WORDS + INFLIGHT, 1);
    if (was === 'done') Atomics.sub(this.#stats, at * STAGE_WORDS + DONE, 1);
    Atomics.add(this.#stats, at * STAGE_WORDS + FAILED, 1);
  }

  /** Stages [k, e) of a try already begun (run() named its owner once). */
  #from(v: unknown, k: number, e: number, t: number, g: number, ctx: StageContext, local?: LocalTry): unknown {
    for (let j = k; j < e; j++) {
      const ms = this.#direct[j];
      if (ms < 0) return this.#runAsync(v, j, e, t, g, ctx, local);
      this.#enter(j, t, g, local);
      const t0 = now();
      let r: unknown;
      let later: boolean;
      try {
        const breaker = this.spec.breakers[j];
        if (breaker) r = callThrough(breaker, ms, this.#fns[j], v, ctx);
        else r = ms > 0 ? callTimed(ms, ctx, this.#fns[j], v) : this.#fns[j](v, ctx);
        later = isThenable(r);
      } catch (err) {
        throw this.#fail(j, t, g, t0, v, err, local);
      }
      if (later) return this.#settleThen(r as PromiseLike<unknown>, v, j, e, t, g, t0, ctx, local);
      this.#succeed(j, t, g, t0, local);
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
    local: LocalTry | undefined,
  ): Promise<unknown> {
    let v: unknown;
    try {
      v = await p;
    } catch (err) {
      throw this.#fail(j, t, g, t0, input, err, local);
    }
    this.#succeed(j, t, g, t0, local);
    return this.#from(v, j + 1, e, t, g, ctx, local);
  }

  async #runAsync(v: unknown, k: number, e: number, t: number, g: number, ctx: StageContext, local?: LocalTry): Promise<unknown> {
    for (let j = k; j < e; j++) v = await this.#stage(v, j, t, g, ctx, local);
    return v;
  }

  async #stage(v: unknown, j: number, t: number, g: number, ctx: StageContext, local?: LocalTry): Promise<unknown> {
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
        this.#enter(j, t, g, local);
        throw this.#fail(j, t, g, now(), v, err, local);
      } finally {
        if (t < 0) Atomics.sub(this.#stats, j * STAGE_WORDS + QUEUED, 1);
      }
    }
    try {
      this.#enter(j, t, g, local);
      const t0 = now();
      const fn = this.#fns[j];
      const ms = spec.timeouts[j];
      const call = (c: StageContext): unknown => (ms > 0 ? callTimed(ms, c, fn, v) : fn(v, c));
      const breaker = spec.breakers[j];
      let out: unknown;
      try {
        out = await (breaker
          ? breaker.execute(({ signal }) => call(signal === ctx.signal ? ctx : { signal, workerId: ctx.workerId }), {
              signal: ctx.signal,
            })
          : call(ctx));
      } catch (err) {
        throw this.#fail(j, t, g, t0, v, err, local);
      }
      this.#succeed(j, t, g, t0, local);
      return out;
    } finally {
      permit?.release();
    }
  }

  /** P2: enter stage j (count it in flight); a given-up local try enters nothing. */
  #enter(j: number, t: number, g: number, local?: LocalTry): void {
    if (local) {
      if (local.state === 'given-up') throw new ChainAbandonedError('the try was given up by the pipeline');
      local.state = 'in';
      local.stage = j;
    }
    if (t >= 0) {
      const base = g * STATE_SPAN;
      const w = this.#p0 + t;
      if (Atomics.compareExchange(this.#stats, w, base + 2 * j, base + 2 * j + 1) !== base + 2 * j) {
        throw new ChainAbandonedError('the chain task was given up by the main thread');
      }
    }
    Atomics.add(this.#stats, j * STAGE_WORDS + INFLIGHT, 1);
  }

  /** P3: leave stage j (on failure marked, P5); false if the main thread took the task over meanwhile (P4). */
  #leave(j: number, t: number, g: number, ok: boolean, local?: LocalTry): boolean {
    if (local) {
      // Given up meanwhile (abandon): the try was counted then, and INFLIGHT taken back.
      if (local.state === 'given-up') return false;
      local.state = ok ? 'done' : 'failed';
    }
    if (t >= 0) {
      const base = g * STATE_SPAN;
      const next = ok ? base + 2 * j + 2 : base + 2 * j + FAILED_MARK;
      const w = this.#p0 + t;
      if (Atomics.compareExchange(this.#stats, w, base + 2 * j + 1, next) !== base + 2 * j + 1) {
        // P6: the main thread took the try over while stage j ran (P4); say that it has ended here.
        const taken = base + 2 * j + FAILED_MARK;
        Atomics.compareExchange(this.#stats, w, taken, taken + LEFT_MARK);
        return false;
      }
    }
    Atomics.sub(this.#stats, j * STAGE_WORDS + INFLIGHT, 1);
    return true;
  }

  #succeed(j: number, t: number, g: number, t0: number, local?: LocalTry): void {
    this.#hists[j].record(now() - t0);
    if (!this.#leave(j, t, g, true, local)) throw new ChainAbandonedError('the chain task was given up by the main thread');
    Atomics.add(this.#stats, j * STAGE_WORDS + DONE, 1);
  }

  #fail(j: number, t: number, g: number, t0: number, input: unknown, err: unknown, local?: LocalTry): Error {
    this.#hists[j].record(now() - t0);
    // The main thread counts the failure itself when it took the task over (P4) or gave the local try up.
    if (!this.#leave(j, t, g, false, local)) return new ChainAbandonedError('the chain task was given up by the main thread');
    Atomics.add(this.#stats, j * STAGE_WORDS + FAILED, 1);
    // A cause that cannot be copied would make the wrapper arrive as UncloneableTaskError, and the
    // dead letter name the segment's first stage and an internal class (travellingCause).
    return new ChainStageError(`stage ${j} failed`, j, input, { cause: travellingCause(err) });
  }
}
