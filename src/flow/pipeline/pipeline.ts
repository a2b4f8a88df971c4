import { InvalidArgumentError } from '../../memory/errors.js';
import { allKeys, onlyKeys } from '../../memory/validate.js';
import { type ChainSpec, MAX_CHAIN_STAGES } from './chain.js';
import type { StageFunction } from './chain-runner.js';
import { DeadLetterSink } from './dead-letters.js';
import { type DeadLetter, StageFailedError } from '../errors.js';
import { noteStats, type PipelineMetrics, PipelineStats } from './pipeline-stats.js';
import { PipelineRun, type RunShape } from './pipeline-run.js';
import { DROPPED, LocalSegment, type Segment } from './segment.js';
import { PoolSegment } from './pool-segment.js';
import { type PoolStage, type RunStage, resolveStage, type StageDef, type StageOptions, type StageRunContext } from './stage-options.js';
import { availableCores } from '../../memory/cores.js';
import type { DefaultName, ModuleOf, SubmitName, SubmitResult, UntypedModule, WorkerPool } from '../../pool/index.js';

// The overload that takes a pool stage's output type by hand must not catch a call that gives none
// (a wrong `fn` on a typed pool would pass, typed unknown): with R left at this default, it asks
// for a key no target has, so such a call is checked by the typed-pool overload alone.
declare const NO_OUTPUT_TYPE: unique symbol;
type NoOutputType = typeof NO_OUTPUT_TYPE;



/** Options of a {@link Pipeline}. */
export interface PipelineOptions<I = unknown> {
  /** Outputs in input order (the default, as `Readable.map` keeps it); `false`: as they finish. */
  ordered?: boolean;
  /** Aborting it stops every run: in-flight tasks see `ctx.signal` abort; the output rejects with AbortError. */
  signal?: AbortSignal;
  /**
   * `true` (default): an input that fails a stage for good becomes a dead letter and the run goes on.
   * `false`: the first such failure stops the run, which rejects with StageFailedError.
   */
  deadLetter?: boolean;
  /**
   * Receives each dead letter as it happens (then nothing is queued for `deadLetters`). If it returns
   * a promise (it saves the letter somewhere), the run ends only once that has settled, and a
   * rejection stops the run with its error, as a throw does.
   */
  onDeadLetter?: (letter: DeadLetter<I>) => void; // void: `(l) => list.push(l)` and async functions both fit
}

const PIPELINE_KEYS = allKeys<PipelineOptions>({ ordered: true, signal: true, deadLetter: true, onDeadLetter: true });

let setCaller: (p: Pipeline<unknown, unknown>, caller: string) => void;

/**
 * Names `caller` instead of "the pipeline" in the errors of `p`'s runs (a source that is not
 * iterable or whose next() is broken, an abort). Internal: FanPattern.processStream runs on a
 * pipeline, and its user called FanPattern, not Pipeline.
 */
export function nameRuns<I, O>(p: Pipeline<I, O>, caller: string): Pipeline<I, O> {
  setCaller(p as unknown as Pipeline<unknown, unknown>, caller);
  return p;
}

/**
 * A multi-stage pipeline: each input flows through the stages in turn, each stage with its own
 * concurrency, input buffer and policies (retry, breaker, timeout, limiter).
 *
 * **Stages meet in the workers.** Consecutive stages on one pool run as one task: the worker runs
 * them in turn, applying each stage's breaker, limiter, timeout and concurrency there (they are shared
 * objects, so a breaker that stage 2 opens in one worker is open in all), and counts each stage's
 * figures in shared memory; the item crosses to the workers once for all of them. Stages on different
 * pools, `run` stages and filters hand items over through the main thread.
 *
 * **Quick items travel in batches.** Once a segment's stages' run times are known (from the shared
 * histograms), items that take little time go to a worker several at a time, as one task lasting a
 * few milliseconds, so the main thread's work and the wake-ups per item shrink; each item keeps its
 * own slot of the stage's concurrency, its own policies and its own outcome. A batch's items run one
 * after another in its worker, so the cost measured includes any awaiting: slow items, I/O waits
 * included (and all items until their cost is known), go one per task. If a worker dies during a batch, only the item
 * it was running fails with WorkerCrashedError; the batch's other items run again alone, so a stage
 * function may run twice for an input whose output died with the worker (as recomputed partitions do
 * in Spark), but the input still ends once, and its stages' done and failed counts stay one per
 * try (the dead run's are taken back; its run-time samples stay in the latency histograms).
 *
 * **Flow.** Pull-based with bounded buffers: the source is pulled only as fast as the slowest stage
 * and the consumer allow. Outputs come in input order unless `ordered: false`.
 *
 * **Nothing lost.** Every input ends once, either in the output or as a dead letter
 * `{ input, stage, error, attempts }` (thrown error, timeout, open breaker, worker crash, after the
 * stage's retries). Dead letters go to `onDeadLetter` if given; else to `deadLetters` once that has
 * been read (queued until read, never blocking the pipeline, so output and dead letters can be read
 * one after the other or side by side); else the run's output iteration throws
 * UnhandledDeadLettersError after its last output (keeping only a count and the first), so a user who
 * reads only the output neither leaks memory nor loses a failure silently. A `deadLetters` iteration
 * ends once no run is active and its queue is empty; once every iteration made has ended (run out,
 * or left with `break`), later runs' letters are no longer queued but thrown as for a user who never
 * read them, until `deadLetters` is read again (read it before each later run whose letters you
 * want, as in the example).
 *
 * **Stopping.** The `signal` option, a failure with `deadLetter: false`, or a consumer that leaves its
 * `for await` early cancels in-flight work (the tasks' `ctx.signal` aborts) and stops pulling the source;
 * `close()` does so for every run at once (PatternRegistry.shutdownAll calls it before closing pools).
 *
 * @example
 * ```ts
 * const pool = new FixedWorkerPool(4, { filename: new URL('./records.js', import.meta.url) });
 * const pipeline = new Pipeline<string>()
 *   .stage<Rec>('parse', { pool, fn: 'parse' }) // typed by hand here; on a typed pool (`FixedWorkerPool<typeof import('./records.js')>`) it is `parse`'s result
 *   .filter((r) => r.active)
 *   .stage('enrich', { pool, fn: 'enrich' }, { retry: new RetryPolicy({ maxAttempts: 3 }), breaker, timeout: 500 })
 *   .stage('save', { run: (r) => db.insert(r) }, { concurrency: 8 });
 * const letters = pipeline.deadLetters; // read before the run, so its dead letters are kept for it
 * for await (const saved of pipeline.processStream(lines)) console.log(saved);
 * for await (const { input, stage, error } of letters) console.warn(stage, error, input);
 * ```
 */
export class Pipeline<I, O = I> {
  readonly #opts: PipelineOptions;
  readonly #defs: StageDef[] = [];
  readonly #sink: DeadLetterSink;
  /** Lowered stage concurrencies (setStageConcurrency), by stage index. */
  readonly #limits: (number | undefined)[] = [];
  #compiled: { segments: Segment[]; stats: PipelineStats; fused: boolean[] } | undefined;
  /**
   * Runs started and not yet let go; close() stops them and waits for them. Held weakly: a run its
   * consumer dropped without return() leaves this set when it is collected (pipeline-run.ts RunTies).
   */
  readonly #runs = new Set<WeakRef<PipelineRun<unknown>>>();
  readonly #closer = new AbortController();
  /** Who runs it, in its runs' errors (set by {@link nameRuns}); undefined: "the pipeline". */
  #caller: string | undefined;

  static {
    setCaller = (p, caller) => (p.#caller = caller);
  }

  constructor(opts: PipelineOptions<I> = {}) {
    if (typeof opts !== 'object' || opts === null) throw new InvalidArgumentError('Pipeline options must be an object');
    onlyKeys(opts, 'Pipeline options', PIPELINE_KEYS);
    if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) {
      throw new InvalidArgumentError('Expected signal to be an AbortSignal');
    }
    for (const key of ['ordered', 'deadLetter'] as const) {
      if (opts[key] !== undefined && typeof opts[key] !== 'boolean') {
        throw new InvalidArgumentError(`Expected ${key} to be a boolean, got ${String(opts[key])}`);
      }
    }
    if (opts.onDeadLetter !== undefined && typeof opts.onDeadLetter !== 'function') {
      throw new InvalidArgumentError('Expected onDeadLetter to be a function');
    }
    // Letters carry the inputs as they entered, so `DeadLetter<I>` is what the callback gets.
    this.#opts = { ...opts } as PipelineOptions;
    this.#sink = new DeadLetterSink(opts.onDeadLetter as ((letter: DeadLetter) => unknown) | undefined);
  }

  /**
   * Adds a stage that runs an export of `pool`'s task module, or a function on this thread: exactly
   * one of `pool` and `run` (a target with both is refused, by the types and by InvalidArgumentError).
   */
  stage<R>(name: string, target: RunStage<O, R> & { pool?: never; fn?: never } & StageOptions, opts?: StageOptions): Pipeline<I, R>;
  /** A pool stage: on a typed pool (`FixedWorkerPool<typeof import('./tasks.js')>`) its output is `fn`'s result. */
  stage<P extends WorkerPool<UntypedModule>, K extends SubmitName<ModuleOf<P>> = DefaultName<ModuleOf<P>>>(
    name: string,
    target: { pool: P; fn?: K; run?: never } & StageOptions,
    opts?: StageOptions,
  ): Pipeline<I, SubmitResult<ModuleOf<P>, K, unknown>>;
  /** A pool stage whose output type is given by hand: `stage<Out>(name, { pool, fn })`. */
  stage<R = NoOutputType>(
    name: string,
    target: PoolStage & { run?: never } & StageOptions & ([R] extends [NoOutputType] ? { [NO_OUTPUT_TYPE]: never } : unknown),
    opts?: StageOptions,
  ): Pipeline<I, R>;
  stage(
    name: string,
    target: ((PoolStage & { run?: never }) | (RunStage<O, unknown> & { pool?: never; fn?: never })) & StageOptions,
    opts?: StageOptions,
  ): Pipeline<I, unknown> {
    this.#checkOpen();
    this.#defs.push(resolveStage(name, target, opts, (n) => this.#defs.some((d) => d.name === n)));
    return this as unknown as Pipeline<I, unknown>;
  }

  /**
   * Keeps the items for which `pred` is true (runs on this thread; may return a promise). A type
   * guard (`(x): x is S => ...`) narrows the items that go on to `S`, as `Array.prototype.filter` does.
   */
  filter<S extends O>(pred: (item: O) => item is S, opts?: { concurrency?: number }): Pipeline<I, S>;
  filter(pred: (item: O) => boolean | PromiseLike<boolean>, opts?: { concurrency?: number }): Pipeline<I, O>;
  filter(pred: (item: O) => boolean | PromiseLike<boolean>, opts?: { concurrency?: number }): Pipeline<I, O> {
    this.#checkOpen();
    if (typeof pred !== 'function') throw new InvalidArgumentError('filter needs a predicate function');
    if (opts !== undefined) onlyKeys(opts, 'filter options', ['concurrency']);
    const keep = (v: unknown): unknown => {
      const k = pred(v as O);
      return typeof (k as PromiseLike<boolean>)?.then === 'function'
        ? Promise.resolve(k).then((b) => (b ? v : DROPPED))
        : k
          ? v
          : DROPPED;
    };
    // Named by its place; a stage the user named so already pushes it further (names stay unique).
    let name = `filter#${this.#defs.length}`;
    for (let k = this.#defs.length + 1; this.#defs.some((d) => d.name === name); k++) name = `filter#${k}`;
    const def = resolveStage(name, { run: keep }, { concurrency: opts?.concurrency ?? availableCores(), buffer: 0 }, () => false);
    def.kind = 'filter';
    this.#defs.push(def);
    return this;
  }

  /**
   * Runs every input of a (possibly endless, possibly async) iterable; yields the outputs.
   *
   * As `for await` does, an element of a sync iterable that is a promise (`[fetchA(), fetchB()]`) is
   * awaited before it enters the first stage, one at a time in source order (the source is not read
   * further meanwhile); a value an async iterable gives enters as it is. An element that rejects
   * fails the run as a source whose `next()` throws does: the output iteration throws its reason
   * (it is no dead letter: it never entered a stage), in-flight work is cancelled and the source is
   * closed. Elements not read by then are never awaited, as `for await` leaves them.
   */
  processStream(inputs: Iterable<I | PromiseLike<I>> | AsyncIterable<I>): AsyncIterableIterator<O> {
    return new PipelineRun<O>(this.#shape(), inputs);
  }

  /**
   * Runs all `inputs`; resolves to the outputs (in input order unless `ordered: false`). Elements of
   * a sync iterable that are promises are awaited first; one that rejects rejects the call with its
   * reason (see {@link Pipeline.processStream}).
   */
  async processBatch(inputs: Iterable<I | PromiseLike<I>> | AsyncIterable<I>): Promise<O[]> {
    const out: O[] = [];
    for await (const o of this.processStream(inputs)) out.push(o);
    return out;
  }

  /**
   * Runs one input. Resolves to its output, or to `undefined` if a filter dropped it; rejects with
   * StageFailedError if it failed a stage (the caller receives that dead letter, so it does not go
   * to `deadLetters` or `onDeadLetter`).
   */
  async process(input: I): Promise<O | undefined> {
    let letter: DeadLetter | undefined;
    const shape = { ...this.#shape(), sink: new DeadLetterSink((l) => (letter = l)) };
    // Its letter goes to the caller, but a deadLetters reader waiting for a run sees this one end.
    this.#sink.runMade();
    try {
      const run = new PipelineRun<O>(shape, [input]);
      let out: O | undefined;
      for await (const o of run) out = o;
      if (letter) throw new StageFailedError(letter);
      return out;
    } finally {
      this.#sink.runEnded();
    }
  }

  /**
   * Stops every run of this pipeline as its `signal` would (in-flight tasks see `ctx.signal` abort,
   * sources stop being pulled, outputs reject with AbortError) and resolves once their in-flight
   * tries have settled; runs started afterwards reject with AbortError at once. The pools it uses are
   * not closed: they may serve others (PatternRegistry.shutdownAll closes pipelines, then pools).
   *
   * @example
   * ```ts
   * process.once('SIGTERM', async () => {
   *   await pipeline.close(); // consumers' for await loops end with AbortError
   *   await pool.close();
   * });
   * ```
   */
  async close(): Promise<void> {
    this.#closer.abort();
    this.#sink.closed(); // every run has stopped: a deadLetters reader ends once it has read the queue
    await Promise.all([...this.#runs].map((r) => r.deref()?.drained()));
  }

  /** `await using pipeline = new Pipeline()` closes it at scope end, as {@link close} does (its pools stay open). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Dead letters as they happen (see the class notes for when they are queued and when it ends). */
  get deadLetters(): AsyncIterable<DeadLetter<I>> {
    return this.#sink.iterable() as AsyncIterable<DeadLetter<I>>;
  }

  /**
   * Lowers (or restores) the concurrency of stage `name` while the pipeline runs: at most `n` items
   * are in it at once from now on (items already in finish as they are), never more than the stage's
   * configured concurrency. Stages fused with it into one task share the lowered limit. Protective
   * mode (PatternRegistry) uses it to take load off a stage whose breaker opened.
   *
   * @example
   * ```ts
   * pipeline.setStageConcurrency('enrich', 2); // back off
   * pipeline.setStageConcurrency('enrich', pipeline.stageConcurrency('enrich').configured); // restore
   * ```
   */
  setStageConcurrency(name: string, n: number): void {
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`Expected concurrency to be an integer >= 1, got ${String(n)}`);
    const j = this.#stageIndex(name);
    this.#limits[j] = Math.min(n, this.#defs[j].concurrency);
    // Not compiled yet: the limit waits for #compile (compiling here fixed the stages, so that a
    // pipeline lowered by protective mode while being built refused its next stage()).
    if (this.#compiled) this.#applyLimits();
  }

  /** Stage `name`'s configured concurrency and the limit in force now. */
  stageConcurrency(name: string): { configured: number; current: number } {
    const j = this.#stageIndex(name);
    return { configured: this.#defs[j].concurrency, current: this.#limits[j] ?? this.#defs[j].concurrency };
  }

  #stageIndex(name: string): number {
    const j = this.#defs.findIndex((d) => d.name === name);
    if (j < 0) throw new InvalidArgumentError(`the pipeline has no stage '${name}'`);
    return j;
  }

  // A segment admits the fewest items any of its stages allows now.
  #applyLimits(): void {
    for (const seg of this.#compile().segments) {
      let n = seg.concurrency;
      for (let j = seg.start; j < seg.end; j++) n = Math.min(n, this.#limits[j] ?? n);
      seg.setLimit(n);
    }
  }

  /** Per stage: in flight, queued, done, failed, retried, dead-lettered, throughput, latency. */
  metrics(): PipelineMetrics {
    // Before the first run nothing has been counted: zeros, without fixing the stages (compiling
    // here made a later stage() throw 'cannot take stages after it has run', and an empty pipeline
    // throw, so a registry scraped while the pipeline was being built failed).
    if (!this.#compiled) {
      const idle = { count: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
      const stages = this.#defs.map((d, j) => ({
        name: d.name,
        kind: d.kind,
        fused: d.kind === 'pool' && [this.#defs[j - 1], this.#defs[j + 1]].some((n) => n?.kind === 'pool' && n.pool === d.pool),
        inFlight: 0,
        queued: 0,
        done: 0,
        failed: 0,
        retried: 0,
        deadLettered: 0,
        throughput: 0,
        latency: { ...idle },
      }));
      return { stages, inFlight: 0, outputs: 0, deadLettered: 0 };
    }
    const c = this.#compiled;
    return c.stats.snapshot(this.#defs, c.fused);
  }

  #checkOpen(): void {
    if (this.#compiled) throw new InvalidArgumentError('a pipeline cannot take stages after it has run');
    if (this.#defs.length >= MAX_CHAIN_STAGES) throw new InvalidArgumentError(`a pipeline has at most ${MAX_CHAIN_STAGES} stages`);
  }

  #shape(): RunShape {
    const c = this.#compile();
    return {
      segments: c.segments,
      defs: this.#defs,
      stats: c.stats,
      sink: this.#sink,
      ordered: this.#opts.ordered ?? true,
      deadLetter: this.#opts.deadLetter ?? true,
      signal: this.#opts.signal,
      caller: this.#caller,
      closer: this.#closer.signal,
      started: (run) => this.#runs.add(run),
      ended: (run) => this.#runs.delete(run),
    };
  }

  /** Groups consecutive stages on one pool into one segment (one chain task). */
  #compile(): { segments: Segment[]; stats: PipelineStats; fused: boolean[] } {
    if (this.#compiled) return this.#compiled;
    const defs = this.#defs;
    if (defs.length === 0) throw new InvalidArgumentError('the pipeline has no stages');
    const groups: [number, number][] = [];
    for (let j = 0; j < defs.length; ) {
      let e = j + 1;
      if (defs[j].kind === 'pool') while (e < defs.length && defs[e].kind === 'pool' && defs[e].pool === defs[j].pool) e++;
      groups.push([j, e]);
      j = e;
    }
    const concurrencyOf = (s: number, e: number): number => Math.max(...defs.slice(s, e).map((d) => d.concurrency));
    const tickets = groups.reduce((n, [s, e]) => n + (defs[s].kind === 'pool' ? concurrencyOf(s, e) : 0), 0);
    const stats = new PipelineStats(defs.length, tickets);
    noteStats(this, stats);
    const fused = defs.map(() => false);
    let base = 0;
    const segments = groups.map(([s, e]): Segment => {
      if (defs[s].kind === 'pool') {
        // Outputs that go straight on to another pool segment stay in their bytes (batch-frame.ts FrameValue).
        const seg = new PoolSegment(s, e, defs, stats, base, e < defs.length && defs[e].kind === 'pool');
        base += seg.concurrency;
        for (let j = s; j < e; j++) fused[j] = e - s > 1;
        return seg;
      }
      const spec: ChainSpec = {
        id: '',
        fns: defs.map(() => ''),
        stats: stats.sab,
        hists: stats.hists,
        breakers: defs.map((d, j) => (j === s && d.breaker ? d.breaker : null)),
        limiters: defs.map((d, j) => (j === s && d.limiter ? d.limiter : null)),
        gates: defs.map(() => null),
        timeouts: defs.map((d, j) => (j === s ? d.timeout : 0)),
      };
      const run = defs[s].run as (input: unknown, ctx: StageRunContext) => unknown;
      const fns: StageFunction[] = defs.map(() => run);
      return new LocalSegment(s, defs[s], spec, fns);
    });
    this.#compiled = { segments, stats, fused };
    this.#applyLimits(); // what setStageConcurrency set before the first run
    return this.#compiled;
  }
}
