/**
 * A run's source, as `for await` treats one: pulled one result at a time (a sync iterator answers at
 * once, an async one later), never asked again once it ended or threw, and closed (`return()`) only
 * when the run stops while it still has more to give. An element of a sync source that is a promise
 * (`[fetchA(), fetchB()]`) is awaited before it enters the run, as `for await` awaits it (the promise
 * itself went into the first stage and came out a dead letter naming the promise); one that rejects
 * fails the run with its reason, as a source whose next() throws does, and the source is closed (it
 * did not break itself). A value an async source gives is taken as it is, as `for await` takes it.
 */
import { isThenable } from '../../memory/thenable.js';
import { openSource, type Source } from '../source.js';

/** What the run is told about each pull. */
export interface SourceSink {
  /** The source gave `value`. */
  value(value: unknown): void;
  /**
   * The source failed (threw, rejected, gave a non-object result, or gave a promise that rejected):
   * the run fails with `err`.
   */
  failed(err: unknown): void;
  /** An async pull has been answered (after value or failed, or after the end): pull again if there is room. */
  resumed(): void;
}

export class RunSource {
  readonly #src: Source;
  /** A sync iterator: its elements that are promises are awaited (as `for await` does). */
  readonly #sync: boolean;
  readonly #sink: SourceSink;
  /** Who runs it, in its errors (FanPattern.processStream runs on a pipeline); undefined: the pipeline. */
  readonly #caller: string | undefined;
  #pulling = false;
  #done = false;

  constructor(source: unknown, sink: SourceSink, caller?: string) {
    const { it, sync } = openSource(source, caller);
    this.#src = it;
    this.#sync = sync;
    this.#sink = sink;
    this.#caller = caller;
  }

  /** Ended, threw, or closed: it is asked nothing more. */
  get done(): boolean {
    return this.#done;
  }

  /** An async pull (or a sync source's promise element) is waiting for its answer. */
  get pulling(): boolean {
    return this.#pulling;
  }

  /**
   * Asks for the next input unless a pull is waiting or the source is done. True if it answered at
   * once (with a value, its end, or a failure); false if it will answer later (then `resumed`).
   */
  pull(): boolean {
    if (this.#pulling || this.#done) return false;
    this.#pulling = true;
    let r: IteratorResult<unknown> | Promise<IteratorResult<unknown>>;
    try {
      r = this.#src.next();
    } catch (err) {
      this.#pulling = false;
      this.#done = true;
      this.#sink.failed(err);
      return true;
    }
    if (isThenable(r)) {
      r.then(
        (res) => {
          this.#pulling = false;
          this.#accept(res, false);
          this.#sink.resumed();
        },
        (err: unknown) => {
          this.#pulling = false;
          this.#done = true;
          this.#sink.failed(err);
        },
      );
      return false;
    }
    this.#pulling = false;
    return this.#accept(r, this.#sync);
  }

  /** The run stopped: close the source unless it ended or threw (as for...of does). */
  close(): void {
    if (this.#done) return;
    this.#done = true;
    try {
      const r = this.#src.return?.();
      if (isThenable(r)) r.then(undefined, () => {});
    } catch {
      // A source that fails to close has nothing more to give us.
    }
  }

  /**
   * Takes one result of the source. True if it answered at once; false if `fromSync` and the
   * element is a promise: it is awaited, then the sink hears of it (value or failed, then resumed).
   */
  #accept(res: IteratorResult<unknown>, fromSync: boolean): boolean {
    if (this.#done) return true; // closed while the pull was out: the run has stopped
    if (typeof res !== 'object' || res === null) {
      // As for await does: a TypeError, and the source is not closed.
      this.#done = true;
      const whose = this.#caller === undefined ? "the source's" : `${this.#caller}'s source:`;
      this.#sink.failed(new TypeError(`${whose} next() gave ${String(res)}, not an iterator result object`));
      return true;
    }
    if (res.done) {
      this.#done = true;
      return true;
    }
    const value = res.value;
    if (fromSync) {
      // One property read per plain element; only a thenable costs an await.
      let thenable: boolean;
      try {
        thenable = isThenable(value);
      } catch (err) {
        this.#sink.failed(err); // a `then` getter that throws: as await would reject
        return true;
      }
      if (thenable) {
        this.#awaitElement(value as PromiseLike<unknown>);
        return false;
      }
    }
    this.#sink.value(value);
    return true;
  }

  /**
   * A sync source's element that is a promise: the source is not asked again before it settles
   * (inputs keep their order, as for await keeps it). Its value enters the run; its rejection fails
   * the run, which closes the source (the iterator itself did not fail). Once the run has stopped,
   * either is dropped, a rejection included (handled here, so it crashes nothing).
   */
  #awaitElement(p: PromiseLike<unknown>): void {
    this.#pulling = true;
    let settled: Promise<unknown>;
    try {
      settled = Promise.resolve(p);
    } catch (err) {
      settled = Promise.reject(err as Error);
    }
    settled.then(
      (value) => {
        this.#pulling = false;
        if (!this.#done) this.#sink.value(value);
        this.#sink.resumed();
      },
      (err: unknown) => {
        this.#pulling = false;
        if (!this.#done) this.#sink.failed(err);
        else this.#sink.resumed(); // the stopped run may be waiting for this pull to end
      },
    );
  }
}
