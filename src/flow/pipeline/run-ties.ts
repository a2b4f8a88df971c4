/**
 * What a pipeline run (pipeline-run.ts) holds in things that outlive it, kept apart from the run so
 * that a run its consumer dropped can be collected and still let go of them.
 */
import { SignalWatcher, unwatchSignal, watchSignal } from '../../memory/signal-watch.js';
import type { DeadLetterSink } from './dead-letters.js';
import type { PipelineStats } from './pipeline-stats.js';

/** What the ties need of the run's pipeline (pipeline-run.ts `RunShape`). */
export interface TiesShape<R extends object> {
  stats: PipelineStats;
  sink: DeadLetterSink;
  closer: AbortSignal;
  started: (run: WeakRef<R>) => void;
  ended: (run: WeakRef<R>) => void;
}

/** A run's watch on the caller's signal or on its pipeline's close: it holds the run only weakly. */
class RunWatch<R extends object> extends SignalWatcher {
  constructor(
    readonly run: WeakRef<R>,
    readonly closed: boolean,
    readonly heard: (run: R, closed: boolean) => void,
  ) {
    super();
  }

  onAbort(): void {
    const run = this.run.deref();
    if (run) this.heard(run, this.closed);
  }
}

/**
 * What a run holds in things that outlive it: its watches on the caller's signal and on its
 * pipeline's close, its place among the pipeline's started runs, its items counted in the
 * pipeline's `inFlight`, and its count in the dead-letter sink. Kept apart from the run (which
 * holds this; this holds the run only weakly), so that a run its consumer dropped without `return()`
 * (never read, or left mid-way) is let go when it is collected, as #close lets go of one that ends:
 * the caller's signal, often one for the whole process, is not left with a listener and a run per
 * dropped run. A run that can be collected has nothing in flight (every try in flight, pending pull
 * and segment waiting to admit it reaches it), so nothing is lost with it.
 */
export class RunTies<R extends object> {
  /** Items taken from the source, and those counted out of `inFlight` since (given out, or skipped). */
  pulled = 0;
  released = 0;
  #user: RunWatch<R> | undefined;
  #close: RunWatch<R> | undefined;
  #known = false;
  #untied = false;

  /** `heard`: tells the run that the caller's signal aborted (`closed` false) or its pipeline closed. */
  constructor(
    readonly x: TiesShape<R>,
    readonly run: WeakRef<R>,
    readonly heard: (run: R, closed: boolean) => void,
  ) {}

  /** Listens to the caller's signal (the run has started; the caller checked it has not aborted). */
  watchUser(signal: AbortSignal): void {
    watchSignal(signal, (this.#user = new RunWatch(this.run, false, this.heard)));
  }

  /** Stops listening to the caller's signal (the run stopped or ended: an abort means nothing to it now). */
  unwatchUser(): void {
    if (this.#user) unwatchSignal(this.#user);
    this.#user = undefined;
  }

  /** Joins the pipeline's started runs and listens to its close. */
  join(): void {
    this.#known = true;
    watchSignal(this.x.closer, (this.#close = new RunWatch(this.run, true, this.heard)));
    this.x.started(this.run);
  }

  /** The run ended, or was collected: undoes everything above, once. */
  untie(): void {
    if (this.#untied) return;
    this.#untied = true;
    // Items that never reached the consumer (a stopped or dropped run): no longer inside the pipeline.
    this.x.stats.inFlight -= this.pulled - this.released;
    this.released = this.pulled;
    this.unwatchUser();
    this.x.sink.runEnded();
    if (!this.#known) return;
    if (this.#close) unwatchSignal(this.#close);
    this.x.ended(this.run);
  }
}
