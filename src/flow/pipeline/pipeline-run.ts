/**
 * One run of a pipeline over a source: the main thread's scheduler and the output iterator.
 *
 * Flow control (pull-based): segment s holds at most `concurrency + buffer` items of this run (waiting
 * in front of it, running, or finished and waiting for room downstream); the source is pulled only
 * while segment 0 has room and the run holds fewer than `window` items (the sum of all segments'
 * capacities) that the consumer has not taken yet. So the source is never further ahead of the
 * consumer than the buffers allow, and a consumer that stops reading stops the source.
 *
 * No deadlock in order: the last segment always hands its items to the output, so every segment
 * drains downstream of the oldest item, which therefore always progresses.
 */
import { AbortError, InvalidArgumentError } from '../../memory/errors.js';
import { DEAD } from './chain.js';
import type { DeadLetterSink } from './dead-letters.js';
import { type DeadLetter, StageFailedError, UnhandledDeadLettersError } from '../errors.js';
import type { PipelineStats } from './pipeline-stats.js';
import { Fifo } from './fifo.js';
import { RunOutput, SKIP } from './run-output.js';
import { DROPPED, failure, type Outcome, type Segment } from './segment.js';
import { runThroughSegment, type SegmentResult, settleTries } from './segment-tries.js';
import type { StageDef } from './stage-options.js';
import { isThenable } from '../../memory/thenable.js';

interface Item {
  seq: number;
  input: unknown;
  value: unknown;
}

interface SegState {
  seg: Segment;
  queue: Fifo<Item>;
  /** This run's items running here, or finished here and waiting for room downstream. */
  holding: number;
  blocked: Fifo<Item>;
  cap: number;
}

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

type Source = Iterator<unknown> | AsyncIterator<unknown>;

/** The iterator of `src` (async first); `what` names the caller in the error for anything else. */
export function openSource(src: unknown, what = 'the pipeline'): Source {
  const s = src as Partial<AsyncIterable<unknown> & Iterable<unknown>> | null;
  const a = s?.[Symbol.asyncIterator];
  if (typeof a === 'function') return a.call(s);
  const i = s?.[Symbol.iterator];
  if (typeof i === 'function') return i.call(s);
  throw new InvalidArgumentError(`${what} needs an Iterable or an AsyncIterable of inputs`);
}

export class PipelineRun<O> implements AsyncIterableIterator<O> {
  readonly #x: RunShape;
  readonly #src: Source;
  readonly #segs: SegState[];
  readonly #window: number;
  /** Aborts every in-flight try when the run stops (each task watching it costs O(1): memory/signal-watch.ts). */
  readonly #ctl = new AbortController();
  readonly #inflight = new Set<Promise<void>>();
  readonly #out: RunOutput<O>;
  readonly #wake = (): void => this.#pump();
  #pulled = 0;
  #released = 0;
  #pulling = false;
  #srcDone = false;
  #started = false;
  #stopping = false;
  #pumping = false;
  #again = false;
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

  constructor(shape: RunShape, source: unknown) {
    this.#x = shape;
    this.#src = openSource(source);
    this.#out = new RunOutput<O>(shape.ordered, () => this.#release());
    this.#segs = shape.segments.map((seg) => ({
      seg,
      queue: new Fifo<Item>(),
      holding: 0,
      blocked: new Fifo<Item>(),
      cap: seg.concurrency + seg.buffer,
    }));
    this.#window = this.#segs.reduce((n, s) => n + s.cap, 0);
    // Its dead letters are awaited from now on (a deadLetters reader ends once it has ended), and it
    // listens to the user's signal; its pipeline's close() reaches it once it has started (#begin).
    shape.sink.runMade();
    if (shape.signal?.aborted) this.#onAbort();
    else {
      shape.signal?.addEventListener('abort', this.#onAbort, { once: true });
      if (shape.closer.aborted) this.#onClose();
    }
  }

  /**
   * Resolves once every try in flight has settled (Pipeline.close waits on it): a stopped run's
   * tasks see their signal abort, so this does not wait for a consumer that no longer reads.
   */
  async drained(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
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
    this.#pump();
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
      x.closer.addEventListener('abort', this.#onClose, { once: true });
      x.started(this as PipelineRun<unknown>);
    }
    this.#pump();
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
    this.#wakeConsumer(); // a next() waiting for output ends now too
    await this.#settle();
    return { value: undefined, done: true };
  }

  async throw(err?: unknown): Promise<IteratorResult<O>> {
    await this.return();
    throw err;
  }

  #ended(): boolean {
    if (!this.#srcDone || this.#pulling || this.#inflight.size > 0 || this.#out.waiting) return false;
    for (const s of this.#segs) if (s.queue.length > 0 || s.blocked.length > 0) return false;
    return true;
  }

  #room(s: number): boolean {
    const st = this.#segs[s];
    return st.queue.length + st.holding < st.cap;
  }

  #enqueue(s: number, item: Item): void {
    this.#segs[s].queue.push(item);
    this.#x.stats.waiting[this.#segs[s].seg.start]++;
  }

  #pump(): void {
    if (this.#stopping || !this.#started) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#again = false;
        for (let s = this.#segs.length - 1; s >= 0; s--) {
          const st = this.#segs[s];
          while (st.blocked.length > 0 && s + 1 < this.#segs.length && this.#room(s + 1)) {
            const item = st.blocked.shift();
            this.#x.stats.waiting[this.#segs[s + 1].seg.start]--;
            st.holding--;
            this.#enqueue(s + 1, item);
            this.#again = true;
          }
          while (st.queue.length > 0 && !this.#stopping && this.#startSome(s)) {
            // started one task (of one item or a batch); go on while slots and items remain
          }
        }
        if (this.#pullSync()) this.#again = true;
      } while (this.#again && !this.#stopping);
    } finally {
      this.#pumping = false;
    }
    if (this.#ended()) this.#wakeConsumer();
  }

  /** Pulls what the source gives synchronously while there is room; true if it took any. */
  #pullSync(): boolean {
    let took = false;
    while (!this.#pulling && !this.#srcDone && !this.#stopping && this.#room(0)) {
      if (this.#pulled - this.#released >= this.#window) break;
      this.#pulling = true;
      let r: IteratorResult<unknown> | Promise<IteratorResult<unknown>>;
      try {
        r = this.#src.next();
      } catch (err) {
        this.#pulling = false;
        this.#srcDone = true;
        this.#fail(err);
        return took;
      }
      if (isThenable(r)) {
        r.then(
          (res) => {
            this.#pulling = false;
            this.#accept(res);
            this.#pump();
          },
          (err: unknown) => {
            this.#pulling = false;
            this.#srcDone = true;
            this.#fail(err);
          },
        );
        return took;
      }
      this.#pulling = false;
      this.#accept(r);
      took = true;
    }
    return took;
  }

  #accept(res: IteratorResult<unknown>): void {
    if (this.#stopping) return;
    if (typeof res !== 'object' || res === null) {
      // As for await does: a TypeError, and the source is not closed.
      this.#srcDone = true;
      this.#fail(new TypeError(`the source's next() gave ${String(res)}, not an iterator result object`));
      return;
    }
    if (res.done) {
      this.#srcDone = true;
      return;
    }
    const stats = this.#x.stats;
    stats.started();
    stats.inFlight++;
    this.#enqueue(0, { seq: this.#pulled++, input: res.value, value: res.value });
  }

  /** Starts segment s on as many queued items as it admits in one task; false if it admitted none. */
  #startSome(s: number): boolean {
    const st = this.#segs[s];
    const tickets = st.seg.admit(st.queue.length, this.#wake);
    if (tickets.length === 0) return false;
    const items = tickets.map(() => st.queue.shift());
    this.#x.stats.waiting[st.seg.start] -= items.length;
    st.holding += items.length;
    if (items.length === 1 && !st.seg.batchesAlone) this.#start(s, items[0], tickets[0]);
    else this.#startBatch(s, items, tickets);
    return true;
  }

  #start(s: number, item: Item, ticket: number): void {
    const x = this.#x;
    this.#track(s, item, ticket, runThroughSegment(this.#segs[s].seg, x.defs, x.stats, item.value, ticket, this.#ctl.signal));
  }

  /**
   * One task for several items. The items done in it are finished together, and their slots freed,
   * before the next pump, so the slots come back as one batch, not one by one; a failed item goes
   * on (retries, verdict) on its own, in its own slot.
   */
  #startBatch(s: number, items: Item[], tickets: number[]): void {
    const st = this.#segs[s];
    const x = this.#x;
    const signal = this.#ctl.signal;
    const settle = (outs: Outcome[]): void => {
      this.#inflight.delete(p);
      const pumping = this.#pumping;
      this.#pumping = true; // a slot's release wakes the pump: let it run once, after all of them
      try {
        items.forEach((item, i) => {
          const o = outs[i];
          if (!o.ok) {
            this.#track(s, item, tickets[i], settleTries(st.seg, x.defs, x.stats, o, tickets[i], signal));
            return;
          }
          st.seg.release(tickets[i]);
          st.holding--;
          this.#finish(s, item, { kind: 'ok', value: o.value });
        });
      } finally {
        this.#pumping = pumping;
      }
      this.#pump();
    };
    const p: Promise<void> = st.seg.execBatch(items.map((it) => it.value), tickets, signal).then(settle, (error: unknown) =>
      settle(
        items.map((it) => failure(error, st.seg.start, it.value, st.seg.start)),
      ),
    );
    this.#inflight.add(p);
  }

  #track(s: number, item: Item, ticket: number, result: Promise<SegmentResult>): void {
    const st = this.#segs[s];
    const p = result
      .catch((error: unknown): SegmentResult => ({ kind: 'dead', stage: st.seg.start, error, attempts: 1 }))
      .then((r) => {
        this.#inflight.delete(p);
        st.seg.release(ticket);
        st.holding--;
        this.#finish(s, item, r);
        this.#pump();
      });
    this.#inflight.add(p);
  }

  #finish(s: number, item: Item, r: SegmentResult): void {
    if (this.#stopping || r.kind === 'cancelled') return;
    if (r.kind === 'dead') {
      const stats = this.#x.stats;
      const letter: DeadLetter = { input: item.input, stage: this.#x.defs[r.stage].name, error: r.error, attempts: r.attempts };
      stats.add(r.stage, DEAD);
      if (!this.#x.deadLetter) {
        this.#fail(new StageFailedError(letter));
        return;
      }
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
    if (s === this.#segs.length - 1) this.#emit(item, r.value);
    else if (this.#room(s + 1)) this.#enqueue(s + 1, item);
    else {
      const st = this.#segs[s];
      st.blocked.push(item);
      st.holding++;
      this.#x.stats.waiting[this.#segs[s + 1].seg.start]++;
    }
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
    // A source that ended, or whose next() threw, is not closed again (as for...of does).
    if (this.#srcDone) return;
    this.#srcDone = true;
    try {
      const r = this.#src.return?.();
      if (isThenable(r)) r.then(undefined, () => {});
    } catch {
      // A source that fails to close has nothing more to give us.
    }
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
    for (const st of this.#segs) {
      stats.waiting[st.seg.start] -= st.queue.length;
      if (st.blocked.length > 0) {
        const next = this.#segs[this.#segs.indexOf(st) + 1];
        if (next) stats.waiting[next.seg.start] -= st.blocked.length;
      }
    }
    this.#x.signal?.removeEventListener('abort', this.#onAbort);
    this.#x.sink.runEnded();
    if (!this.#known) return;
    this.#x.closer.removeEventListener('abort', this.#onClose);
    this.#x.ended(this as PipelineRun<unknown>);
  }
}
