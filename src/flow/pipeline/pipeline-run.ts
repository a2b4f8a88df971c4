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
import { watchAbort } from '../../memory/wait/index.js';
import { DEAD } from './chain.js';
import type { DeadLetterSink } from './dead-letters.js';
import { type DeadLetter, StageFailedError, UnhandledDeadLettersError } from '../errors.js';
import type { PipelineStats } from './pipeline-stats.js';
import { RunOutput, SKIP } from './run-output.js';
import { RunSource } from './run-source.js';
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
  /** Aborted by Pipeline.close(): stops the run as `signal` does. */
  closer: AbortSignal;
  /** Told when the run starts (its first `next()`) and when it lets go: Pipeline.close() waits on started runs. */
  started: (run: PipelineRun<unknown>) => void;
  ended: (run: PipelineRun<unknown>) => void;
}

export class PipelineRun<O> implements AsyncIterableIterator<O> {
  readonly #x: RunShape;
  readonly #source: RunSource;
  readonly #stages: RunStages;
  /** Aborts every in-flight try when the run stops (each task watching it costs O(1): memory/signal-watch.ts). */
  readonly #ctl = new AbortController();
  readonly #out: RunOutput<O>;
  #pulled = 0;
  #released = 0;
  #started = false;
  #stopping = false;
  #closed = false;
  /** Why the run stopped; `reported` once next() has thrown it (or when there is nothing to throw: a consumer's stop). */
  #failure: { error: unknown; reported: boolean } | undefined;
  /** Known to its pipeline (started, listening to Pipeline.close) until #close. */
  #known = false;
  /** next() calls not yet settled (the fast path in next() needs none). */
  #nexts = 0;
  /** next() calls made before the last settled wait their turn, as an async generator's do. */
  #turn: Promise<unknown> = Promise.resolve();
  #unhandled = 0;
  #firstUnhandled: DeadLetter | undefined;
  #consumer: (() => void) | undefined;
  readonly #onAbort = (): void => this.#fail(new AbortError('the pipeline was aborted', { cause: this.#x.signal?.reason }));
  readonly #onClose = (): void => this.#fail(new AbortError('the pipeline was closed'));
  /**
   * Every run of a pipeline watches the same two signals (the user's, the pipeline's close): through
   * watchAbort, one listener per signal in all (a listener per run printed Node's
   * MaxListenersExceededWarning at 11 concurrent `process()` calls).
   */
  #unwatchAbort: (() => void) | undefined;
  #unwatchClose: (() => void) | undefined;

  constructor(shape: RunShape, source: unknown) {
    this.#x = shape;
    this.#source = new RunSource(source, {
      value: (v) => this.#accept(v),
      failed: (err) => this.#fail(err),
      resumed: () => this.#stages.pump(),
    });
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
    // Its dead letters are awaited from now on (a deadLetters reader ends once it has ended), and it
    // listens to the user's signal; its pipeline's close() reaches it once it has started (#begin).
    shape.sink.runMade();
    if (shape.signal?.aborted) this.#onAbort();
    else {
      if (shape.signal) this.#unwatchAbort = watchAbort(shape.signal, this.#onAbort);
      if (shape.closer.aborted) this.#onClose();
    }
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

  /** Hands the consumer the next output. */
  #take(): IteratorResult<O> {
    const value = this.#out.take();
    this.#release();
    this.#x.stats.outputs++;
    this.#stages.pump();
    return { value, done: false };
  }

  /** Starts the run: only a started run is known to its pipeline (close() waits on it; one never read runs nothing). */
  #begin(): void {
    this.#started = true;
    if (this.#closed || this.#failure) return;
    const x = this.#x;
    if (x.closer.aborted) this.#onClose();
    else {
      this.#known = true;
      this.#unwatchClose = watchAbort(x.closer, this.#onClose);
      x.started(this as PipelineRun<unknown>);
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
    return this.#source.done && !this.#source.pulling && this.#stages.idle && !this.#out.waiting;
  }

  /** Pulls what the source gives at once while there is room; true if it took any. */
  #pull(): boolean {
    let took = false;
    while (!this.#stopping && this.#stages.room(0) && this.#pulled - this.#released < this.#stages.window) {
      if (!this.#source.pull()) break;
      took = true;
    }
    return took;
  }

  #accept(value: unknown): void {
    const stats = this.#x.stats;
    stats.started();
    stats.inFlight++;
    this.#stages.enqueue(0, { seq: this.#pulled++, input: value, value });
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
      let handled: boolean;
      try {
        handled = this.#x.sink.deliver(letter);
      } catch (err) {
        this.#fail(err); // onDeadLetter threw: stop, as a failing consumer would
        return;
      }
      if (!handled) {
        this.#unhandled++;
        this.#firstUnhandled ??= letter;
      }
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

  #emit(item: Item, v: unknown): void {
    this.#out.emit(item.seq, v);
    this.#wakeConsumer();
  }

  #release(): void {
    if (this.#closed) return; // #close already counted it out
    this.#released++;
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
    this.#ctl.abort(reason);
    this.#source.close();
  }

  /** Waits for every in-flight try to settle, then lets go of the run. */
  async #settle(): Promise<void> {
    await this.drained();
    this.#close();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const stats = this.#x.stats;
    // Items that never reached the consumer (a stopped run): no longer inside the pipeline.
    stats.inFlight -= this.#pulled - this.#released;
    this.#released = this.#pulled;
    this.#stages.uncount();
    this.#unwatchAbort?.();
    this.#x.sink.runEnded();
    if (!this.#known) return;
    this.#unwatchClose?.();
    this.#x.ended(this as PipelineRun<unknown>);
  }
}
