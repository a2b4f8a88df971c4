/**
 * One run of a pipeline over a source: the output iterator and the run's life (start, failure,
 * stop, close). Its items move through the segments in run-stages.ts, its source is pulled through
 * run-source.ts, and its outputs leave in order through run-output.ts.
 *
 * The source is pulled only while segment 0 has room and the run holds fewer than `window` items
 * (the sum of all segments' capacities) that the consumer has not taken yet. So the source is never
 * further ahead of the consumer than the buffers allow, and a consumer that stops reading stops the
 * source.
 */
import { AbortError } from '../../memory/errors.js';
import { DEAD } from './chain.js';
import type { DeadLetterSink } from './dead-letters.js';
import { type DeadLetter, StageFailedError, UnhandledDeadLettersError } from '../errors.js';
import type { PipelineStats } from './pipeline-stats.js';
import { RunOutput, SKIP } from './run-output.js';
import { RunSource } from './run-source.js';
import { RunTies } from './run-ties.js';
import { type Item, RunStages } from './run-stages.js';
import { DROPPED, type Segment } from './segment.js';
import type { SegmentResult } from './segment-tries.js';
import type { StageDef } from './stage-options.js';

/** What a run needs from its pipeline. */
export interface RunShape {
  segments: readonly Segment[];
  defs: readonly StageDef[];
  stats: PipelineStats;
  sink: DeadLetterSink;
  ordered: boolean;
  deadLetter: boolean;
  signal?: AbortSignal;
  /** Who runs it, in its errors (FanPattern.processStream runs on a pipeline); undefined: "the pipeline". */
  caller?: string;
  /** Aborted by Pipeline.close(): stops the run as `signal` does. */
  closer: AbortSignal;
  /**
   * Told when the run starts (its first `next()`) and when it lets go: Pipeline.close() waits on
   * started runs. The pipeline holds them weakly, so a run its consumer dropped can be collected.
   */
  started: (run: WeakRef<PipelineRun<unknown>>) => void;
  ended: (run: WeakRef<PipelineRun<unknown>>) => void;
}

/** How a signal watch reaches the run it holds weakly (set in PipelineRun's static block). */
let heard: (run: PipelineRun<unknown>, closed: boolean) => void;

/**
 * Lets go of what a run dropped before it ended held. Its queues are empty then: a stopped run closes
 * itself once its tries settle (#stop), and a live one with items queued has tries in flight or waits
 * in a segment for a slot, so it is not collected.
 */
const dropped = new FinalizationRegistry<RunTies<PipelineRun<unknown>>>((ties) => ties.untie());

export class PipelineRun<O> implements AsyncIterableIterator<O> {
  readonly #x: RunShape;
  readonly #source: RunSource;
  readonly #stages: RunStages;
  /** Aborts every in-flight try when the run stops (each task watching it costs O(1): memory/signal-watch.ts). */
  readonly #ctl = new AbortController();
  readonly #out: RunOutput<O>;
  readonly #ties: RunTies<PipelineRun<unknown>>;
  #started = false;
  #stopping = false;
  #closed = false;
  /** Why the run stopped; `reported` once next() has thrown it (or when there is nothing to throw: a consumer's stop). */
  #failure: { error: unknown; reported: boolean } | undefined;
  /** next() calls not yet settled (the fast path in next() needs none). */
  #nexts = 0;
  /** next() calls made before the last settled wait their turn, as an async generator's do. */
  #turn: Promise<unknown> = Promise.resolve();
  #unhandled = 0;
  #firstUnhandled: DeadLetter | undefined;
  /** Promises an async onDeadLetter returned that have not settled: the run has not ended before they do. */
  #delivering = 0;
  #consumer: (() => void) | undefined;
  /** Outputs taken since the last pump from #take, and how many make one worth running. */
  #takenUnpumped = 0;
  readonly #pumpEvery: number;

  static {
    heard = (run, closed) => (closed ? run.#onClose() : run.#onAbort());
  }

  constructor(shape: RunShape, source: unknown) {
    this.#x = shape;
    this.#ties = new RunTies(shape, new WeakRef(this as PipelineRun<unknown>), heard);
    this.#source = new RunSource(
      source,
      {
        value: (v) => this.#accept(v),
        failed: (err) => this.#fail(err),
        resumed: () => this.#stages.pump(),
      },
      shape.caller,
    );
    this.#out = new RunOutput<O>(shape.ordered, () => this.#release());
    this.#stages = new RunStages(shape.segments, shape.defs, shape.stats, this.#ctl.signal, {
      active: () => this.#started && !this.#stopping,
      pull: () => this.#pull(),
      sourceOpen: () => !this.#source.done,
      finished: (s, item, r) => this.#finish(s, item, r),
      pumped: () => {
        if (this.#ended()) this.#wakeConsumer();
      },
    });
    this.#pumpEvery = Math.max(1, Math.min(64, this.#stages.window >> 3));
    // Its dead letters are awaited from now on (a deadLetters reader ends once it has ended, or once
    // it is collected unread). The user's signal and its pipeline's close() reach it once it has
    // started (#begin): one never read runs nothing and holds no listener (it was watched from here,
    // so every run made and dropped unread left a listener and itself on the user's signal).
    shape.sink.runMade();
    dropped.register(this, this.#ties, this.#ties);
    if (shape.signal?.aborted) this.#onAbort();
    else if (shape.closer.aborted) this.#onClose();
  }

  /**
   * Every run of a pipeline watches the same two signals (the user's, the pipeline's close) through
   * memory/signal-watch.ts, one listener per signal in all (a listener per run printed Node's
   * MaxListenersExceededWarning at 11 concurrent `process()` calls).
   */
  #onAbort(): void {
    this.#fail(new AbortError(`${this.#x.caller ?? 'the pipeline'} was aborted`, { cause: this.#x.signal?.reason }));
  }

  #onClose(): void {
    this.#fail(new AbortError('the pipeline was closed'));
  }

  /**
   * Resolves once every try in flight has settled (Pipeline.close waits on it): a stopped run's
   * tasks see their signal abort, so this does not wait for a consumer that no longer reads.
   */
  async drained(): Promise<void> {
    await this.#stages.drained();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<O>> {
    // An output is ready and no earlier next() is unsettled: answer now. The general path below
    // (a turn in the chain of next() calls, then an async #step) made ~700 B of promises and
    // closures per item on Node 20, most of this run's garbage on the main thread.
    if (this.#nexts === 0 && this.#started && this.#out.ready > 0) {
      try {
        return Promise.resolve(this.#take());
      } catch (err) {
        return Promise.reject(err);
      }
    }
    this.#nexts++;
    const r = this.#turn.then(() => this.#step());
    // Runs before the caller's own reaction to r (registered first), so a next() made as the caller
    // resumes sees this one settled.
    const settled = (): void => {
      this.#nexts--;
    };
    this.#turn = r.then(settled, settled);
    return r;
  }

  /**
   * Hands the consumer the next output. What a take frees is room in the run's window, so the pump
   * (which pulls the source into it) runs once a batch's worth of room has freed, or when the
   * consumer has taken all there is; finishing tasks pump too. A pump on every take ran the
   * segments' admission twice per item (40k calls in the 20k-line bench, now ~1.4k); no change in
   * that bench's throughput could be measured, the calls were cheap.
   */
  #take(): IteratorResult<O> {
    const value = this.#out.take();
    this.#release();
    this.#x.stats.outputs++;
    if (++this.#takenUnpumped >= this.#pumpEvery || this.#out.ready === 0) {
      this.#takenUnpumped = 0;
      this.#stages.pump();
    }
    return { value, done: false };
  }

  /**
   * Starts the run: only a started run listens to the user's signal and is known to its pipeline
   * (close() waits on it); one never read runs nothing.
   */
  #begin(): void {
    this.#started = true;
    if (this.#closed || this.#failure) return;
    const x = this.#x;
    if (x.signal?.aborted) this.#onAbort();
    else if (x.closer.aborted) this.#onClose();
    else {
      if (x.signal) this.#ties.watchUser(x.signal);
      this.#ties.join();
    }
    this.#stages.pump();
  }

  async #step(): Promise<IteratorResult<O>> {
    if (!this.#started) this.#begin();
    for (;;) {
      if (this.#out.ready > 0) return this.#take();
      if (this.#failure) {
        await this.#settle();
        const f = this.#failure;
        if (!f.reported) {
          f.reported = true;
          throw f.error;
        }
        return { value: undefined, done: true };
      }
      if (this.#ended()) {
        this.#close();
        if (this.#unhandled > 0 && this.#firstUnhandled) {
          const err = new UnhandledDeadLettersError(this.#unhandled, this.#firstUnhandled);
          this.#unhandled = 0;
          throw err;
        }
        return { value: undefined, done: true };
      }
      await new Promise<void>((r) => {
        this.#consumer = r;
      });
    }
  }

  /** The consumer stopped (`break`): cancel in-flight work, stop pulling, and wait for it to settle. */
  async return(): Promise<IteratorResult<O>> {
    this.#stop(new AbortError('the consumer stopped reading the pipeline'));
    this.#failure ??= { error: undefined, reported: true };
    // Outputs it had not taken are not handed out by a later next() (#close counts them out).
    this.#out.discard();
    this.#wakeConsumer(); // a next() waiting for output ends now too
    await this.#settle();
    return { value: undefined, done: true };
  }

  async throw(err?: unknown): Promise<IteratorResult<O>> {
    await this.return();
    throw err;
  }

  #ended(): boolean {
    return this.#source.done && !this.#source.pulling && this.#stages.idle && !this.#out.waiting && this.#delivering === 0;
  }

  /** Pulls what the source gives at once while there is room; true if it took any. */
  #pull(): boolean {
    let took = false;
    const t = this.#ties;
    while (!this.#stopping && this.#stages.room(0) && t.pulled - t.released < this.#stages.window) {
      if (!this.#source.pull()) break;
      took = true;
    }
    return took;
  }

  #accept(value: unknown): void {
    const stats = this.#x.stats;
    stats.started();
    stats.inFlight++;
    this.#stages.enqueue(0, { seq: this.#ties.pulled++, input: value, value });
  }

  #finish(s: number, item: Item, r: SegmentResult): void {
    if (this.#stopping || r.kind === 'cancelled') return;
    if (r.kind === 'dead') {
      const stats = this.#x.stats;
      const letter: DeadLetter = { input: item.input, stage: this.#x.defs[r.stage].name, error: r.error, attempts: r.attempts };
      // With dead-lettering off the failure stops the run instead: it is counted failed, not dead-lettered.
      if (!this.#x.deadLetter) {
        this.#fail(new StageFailedError(letter));
        return;
      }
      stats.add(r.stage, DEAD);
      let handled: boolean | PromiseLike<unknown>;
      try {
        handled = this.#x.sink.deliver(letter);
      } catch (err) {
        this.#fail(err); // onDeadLetter threw: stop, as a failing consumer would
        return;
      }
      if (handled === false) {
        this.#unhandled++;
        this.#firstUnhandled ??= letter;
      } else if (handled !== true) this.#delivered(handled);
      this.#emit(item, SKIP);
      return;
    }
    if (r.value === DROPPED) {
      this.#emit(item, SKIP);
      return;
    }
    item.value = r.value;
    if (s === this.#stages.last) this.#emit(item, r.value);
    else this.#stages.forward(s, item);
  }

  /**
   * An async onDeadLetter is saving a letter: the run ends only after it has (nothing lost), and its
   * rejection stops the run as a throw does (dropped, it crashed the process as unhandled).
   */
  #delivered(p: PromiseLike<unknown>): void {
    this.#delivering++;
    Promise.resolve(p).then(
      () => {
        this.#delivering--;
        this.#wakeConsumer(); // the run may have ended
      },
      (err: unknown) => {
        this.#delivering--;
        this.#fail(err);
      },
    );
  }

  #emit(item: Item, v: unknown): void {
    this.#out.emit(item.seq, v);
    this.#wakeConsumer();
  }

  #release(): void {
    if (this.#closed) return; // #close already counted it out
    this.#ties.released++;
    this.#x.stats.inFlight--;
  }

  #wakeConsumer(): void {
    const c = this.#consumer;
    this.#consumer = undefined;
    c?.();
  }

  #fail(error: unknown): void {
    if (this.#stopping) return;
    this.#failure = { error, reported: false };
    this.#stop(error);
    this.#wakeConsumer();
  }

  /** Stops pulling and cancels in-flight tries: their tasks' `ctx.signal` aborts. */
  #stop(reason: unknown): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#ties.unwatchUser(); // whatever stopped it, the user's signal has nothing more to stop
    this.#ctl.abort(reason);
    this.#source.close();
    // Lets go once its tries have settled, whether or not its consumer reads again (one that failed
    // or was closed while nobody read it held its place in the pipeline until then).
    void this.#settle();
  }

  /** Waits for every in-flight try to settle, then lets go of the run. */
  async #settle(): Promise<void> {
    await this.drained();
    this.#close();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stages.uncount();
    dropped.unregister(this.#ties);
    this.#ties.untie();
  }
}
