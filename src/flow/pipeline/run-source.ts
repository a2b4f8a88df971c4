/**
 * A run's source, as `for await` treats one: pulled one result at a time (a sync iterator answers at
 * once, an async one later), never asked again once it ended or threw, and closed (`return()`) only
 * when the run stops while it still has more to give.
 */
import { isThenable } from '../../memory/thenable.js';
import { openSource, type Source } from '../source.js';

/** What the run is told about each pull. */
export interface SourceSink {
  /** The source gave `value`. */
  value(value: unknown): void;
  /** The source failed (threw, rejected, or gave a non-object result): the run fails with `err`. */
  failed(err: unknown): void;
  /** An async pull has been answered (after value or failed, or after the end): pull again if there is room. */
  resumed(): void;
}

export class RunSource {
  readonly #src: Source;
  readonly #sink: SourceSink;
  /** Who runs it, in its errors (FanPattern.processStream runs on a pipeline); undefined: the pipeline. */
  readonly #caller: string | undefined;
  #pulling = false;
  #done = false;

  constructor(source: unknown, sink: SourceSink, caller?: string) {
    this.#src = openSource(source, caller);
    this.#sink = sink;
    this.#caller = caller;
  }

  /** Ended, threw, or closed: it is asked nothing more. */
  get done(): boolean {
    return this.#done;
  }

  /** An async pull is waiting for its answer. */
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
          this.#accept(res);
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
    this.#accept(r);
    return true;
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

  #accept(res: IteratorResult<unknown>): void {
    if (this.#done) return; // closed while the pull was out: the run has stopped
    if (typeof res !== 'object' || res === null) {
      // As for await does: a TypeError, and the source is not closed.
      this.#done = true;
      const whose = this.#caller === undefined ? "the source's" : `${this.#caller}'s source:`;
      this.#sink.failed(new TypeError(`${whose} next() gave ${String(res)}, not an iterator result object`));
      return;
    }
    if (res.done) {
      this.#done = true;
      return;
    }
    this.#sink.value(res.value);
  }
}
