/**
 * `FanPattern`: fan-out and fan-in as one reusable object over a pool (or a function): `process`
 * gathers every output, `processStream` yields them as they come, with a bounded window.
 */
import type { WorkerPool } from '../../pool/index.js';
import { InvalidArgumentError } from '../../memory/errors.js';
import { object, onlyKeys } from '../../memory/validate.js';
import { nameRuns, Pipeline } from '../pipeline/pipeline.js';
import { callContext, FAN_OUT_KEYS, type FanFunction, fanOutAs, type FanOutOptions, fanOutSettings } from './fan-out.js';

/** Options of a {@link FanPattern}: a pool (with `fn`) or a function, and fanOut's options. */
export type FanPatternOptions<I, O> = Omit<FanOutOptions, 'allSettled'> &
  ({ pool: WorkerPool; run?: never } | { run: FanFunction<I, O>; pool?: never });

/** Its target (`pool` or `run`) and fanOut's options but `allSettled` (processSettled gives every outcome). */
const PATTERN_KEYS: readonly string[] = ['pool', 'run', ...FAN_OUT_KEYS.filter((k) => k !== 'allSettled')];

/**
 * @example
 * ```ts
 * const fan = new FanPattern<string, string>({ pool, fn: 'sha256', concurrency: 8 });
 * const all = await fan.process(files);
 * for await (const digest of fan.processStream(readLines(path))) out.write(digest);
 * ```
 */
export class FanPattern<I, O> {
  readonly #o: FanPatternOptions<I, O>;

  constructor(opts: FanPatternOptions<I, O>) {
    this.#o = object(opts, 'FanPattern options');
    onlyKeys(opts, 'FanPattern options', PATTERN_KEYS);
    // As a pipeline stage checks its target: with both, the pool was used and run ignored, and a
    // pool given as run (or a function as pool) ran in process() but failed in processStream().
    const { pool, run } = opts as { pool?: unknown; run?: unknown };
    if ((pool === undefined) === (run === undefined)) throw new InvalidArgumentError('FanPattern needs exactly one of pool and run');
    if (pool !== undefined && typeof (pool as { submit?: unknown }).submit !== 'function') {
      throw new InvalidArgumentError('FanPattern: pool must be a WorkerPool');
    }
    if (run !== undefined && typeof run !== 'function') throw new InvalidArgumentError('FanPattern: run must be a function');
    // Checked now, so bad options fail at the constructor (and nothing runs: an aborted signal is
    // not an error until a call). Its errors, and its methods', name FanPattern, not what it runs on.
    fanOutSettings(this.#target(), this.#fanOpts(), 'FanPattern');
  }

  #target(): FanFunction<I, O> | WorkerPool {
    return (this.#o.pool ?? this.#o.run) as FanFunction<I, O> | WorkerPool;
  }

  #fanOpts(): Omit<FanOutOptions, 'allSettled'> {
    const { fn, concurrency, batchSize, ordered, signal } = this.#o;
    return { fn, concurrency, batchSize, ordered, signal };
  }

  /**
   * Every output, in input order unless `ordered: false`; rejects with the first failure. Elements of
   * a sync iterable that are promises are awaited first; one that rejects is that input's failure
   * (see {@link fanOut}).
   */
  process(inputs: Iterable<I | PromiseLike<I>> | AsyncIterable<I>): Promise<O[]> {
    return fanOutAs<I, O>('FanPattern.process', inputs, this.#target(), this.#fanOpts()) as Promise<O[]>;
  }

  /**
   * Every outcome, in input order, as `PromiseSettledResult`s. An element of a sync iterable that is a
   * promise is awaited first; one that rejects is that input's `{ status: 'rejected', reason }`.
   */
  processSettled(inputs: Iterable<I | PromiseLike<I>> | AsyncIterable<I>): Promise<PromiseSettledResult<O>[]> {
    return fanOutAs<I, O>('FanPattern.processSettled', inputs, this.#target(), { ...this.#fanOpts(), allSettled: true }) as Promise<
      PromiseSettledResult<O>[]
    >;
  }

  /**
   * The outputs as they come (in input order unless `ordered: false`), pulling the source only as
   * fast as the consumer reads; the first failure ends it with a StageFailedError. `batchSize` does
   * not apply here: a pool's inputs go to the workers in batches sized by their measured run time,
   * as a pipeline stage's do. An element of a sync iterable that is a promise is awaited first, in
   * source order; one that rejects ends it with its reason (see {@link Pipeline.processStream}).
   */
  processStream(inputs: Iterable<I | PromiseLike<I>> | AsyncIterable<I>): AsyncIterableIterator<O> {
    const o = this.#o;
    const p = nameRuns(new Pipeline<I>({ ordered: o.ordered, signal: o.signal, deadLetter: false }), 'FanPattern.processStream');
    // The same window as process(): fanOut's default concurrency, not a pipeline stage's.
    const opts = { concurrency: fanOutSettings(this.#target(), this.#fanOpts(), 'FanPattern').concurrency };
    const run = o.run as FanFunction<I, O>;
    // The one stage starts its inputs in source order, once each (no retries here): the n-th call
    // is the n-th input.
    let index = 0;
    const staged = o.pool
      ? (p.stage('fan', { pool: o.pool, fn: o.fn }, opts) as Pipeline<I, O>) // an untyped pool: its output is O by FanPattern's type
      : p.stage<O>(
          'fan',
          {
            run: (x: I, ctx) => {
              // The call's own signal, as fanOut gives (callContext): listeners on it do not pile up on
              // the run's. A sync function stays sync (the pipeline's fast path for it).
              const c = callContext(ctx.signal, index++);
              let r: O | PromiseLike<O>;
              try {
                r = run(x, c);
              } catch (err) {
                c.end();
                throw err;
              }
              if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<O>).then === 'function') {
                return Promise.resolve(r).finally(() => c.end());
              }
              c.end();
              return r;
            },
          },
          opts,
        );
    return staged.processStream(inputs);
  }
}
