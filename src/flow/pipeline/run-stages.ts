/**
 * A run's items on their way through the segments (pipeline-run.ts drives it): each segment's queue
 * in front of it, its tasks in flight, and the items it finished that wait for room downstream.
 *
 * Flow control: segment s holds at most `concurrency + buffer` items of this run (queued in front
 * of it, running, or finished and waiting for room downstream), and the run is asked to pull its
 * source only while segment 0 has room. The pump walks the segments from the last to the first, so
 * room made downstream is used upstream in the same pass. No deadlock in order: the last segment
 * always hands its items to the output, so every segment drains downstream of the oldest item,
 * which therefore always progresses.
 */
import type { PipelineStats } from './pipeline-stats.js';
import { Fifo } from '../../memory/fifo.js';
import { failure, type Outcome, type Segment } from './segment.js';
import { runThroughSegment, type SegmentResult, settleTries } from './segment-tries.js';
import type { StageDef } from './stage-options.js';

/** One input of the run: its place in input order, the input itself, and its value so far. */
export interface Item {
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

/** What the stages need from their run. */
export interface StageHooks {
  /** Whether the pump may start work (the run has started and is not stopping). */
  active(): boolean;
  /** Pulls what the source gives at once while segment 0 has room; true if it took any. */
  pull(): boolean;
  /** Whether the source may still give items (it has not ended, failed or been closed). */
  sourceOpen(): boolean;
  /** Item `item` left segment s with `r` (done, dead or cancelled). */
  finished(s: number, item: Item, r: SegmentResult): void;
  /** A pump pass is over: outputs may be ready, or the run over. */
  pumped(): void;
}

export class RunStages {
  readonly #segs: SegState[];
  readonly #defs: readonly StageDef[];
  readonly #stats: PipelineStats;
  readonly #signal: AbortSignal;
  readonly #hooks: StageHooks;
  readonly #inflight = new Set<Promise<void>>();
  /** The run's items the segments can hold at once: the sum of their capacities. */
  readonly window: number;
  readonly pump = (): void => this.#pump();
  #pumping = false;
  #again = false;

  constructor(segments: readonly Segment[], defs: readonly StageDef[], stats: PipelineStats, signal: AbortSignal, hooks: StageHooks) {
    this.#defs = defs;
    this.#stats = stats;
    this.#signal = signal;
    this.#hooks = hooks;
    this.#segs = segments.map((seg) => ({
      seg,
      queue: new Fifo<Item>(),
      holding: 0,
      blocked: new Fifo<Item>(),
      cap: seg.concurrency + seg.buffer,
    }));
    this.window = this.#segs.reduce((n, s) => n + s.cap, 0);
  }

  get last(): number {
    return this.#segs.length - 1;
  }

  /** Whether segment s can take one more item. */
  room(s: number): boolean {
    const st = this.#segs[s];
    return st.queue.length + st.holding < st.cap;
  }

  /** Queues `item` in front of segment s. */
  enqueue(s: number, item: Item): void {
    this.#segs[s].queue.push(item);
    this.#stats.waiting[this.#segs[s].seg.start]++;
  }

  /** Item `item` is done with segment s (not the last): on to s + 1, or held until it has room. */
  forward(s: number, item: Item): void {
    if (this.room(s + 1)) {
      this.enqueue(s + 1, item);
      return;
    }
    const st = this.#segs[s];
    st.blocked.push(item);
    st.holding++;
    this.#stats.waiting[this.#segs[s + 1].seg.start]++;
  }

  /** Nothing queued, held or in flight. */
  get idle(): boolean {
    if (this.#inflight.size > 0) return false;
    for (const s of this.#segs) if (s.queue.length > 0 || s.blocked.length > 0) return false;
    return true;
  }

  /** Resolves once every try in flight has settled. */
  async drained(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  /** The run let go: its items still queued or held no longer count as waiting. */
  uncount(): void {
    const waiting = this.#stats.waiting;
    this.#segs.forEach((st, s) => {
      waiting[st.seg.start] -= st.queue.length;
      const next = this.#segs[s + 1];
      if (next && st.blocked.length > 0) waiting[next.seg.start] -= st.blocked.length;
    });
  }

  #pump(): void {
    if (!this.#hooks.active()) return;
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
          while (st.blocked.length > 0 && s + 1 < this.#segs.length && this.room(s + 1)) {
            const item = st.blocked.shift();
            this.#stats.waiting[this.#segs[s + 1].seg.start]--;
            st.holding--;
            this.enqueue(s + 1, item);
            this.#again = true;
          }
          while (st.queue.length > 0 && this.#hooks.active() && this.#startSome(s)) {
            // started one task (of one item or a batch); go on while slots and items remain
          }
        }
        if (this.#hooks.pull()) this.#again = true;
      } while (this.#again && this.#hooks.active());
    } finally {
      this.#pumping = false;
    }
    this.#hooks.pumped();
  }

  /** Starts segment s on as many queued items as it admits in one task; false if it admitted none. */
  #startSome(s: number): boolean {
    const st = this.#segs[s];
    // Not urgent while its finished items wait for room downstream: it may gather a fuller batch,
    // if more items may still come to it in this run.
    const tickets = st.seg.admit(st.queue.length, this.pump, st.blocked.length === 0, this.#moreComing(s));
    if (tickets.length === 0) return false;
    const items = tickets.map(() => st.queue.shift());
    this.#stats.waiting[st.seg.start] -= items.length;
    st.holding += items.length;
    if (items.length === 1 && !st.seg.batchesAlone) this.#start(s, items[0], tickets[0]);
    else this.#startBatch(s, items, tickets);
    return true;
  }

  /** More items may still come to segment s in this run: from the source, or from segments before it. */
  #moreComing(s: number): boolean {
    if (this.#hooks.sourceOpen()) return true;
    for (let k = 0; k < s; k++) {
      const up = this.#segs[k];
      if (up.holding > 0 || up.queue.length > 0) return true;
    }
    return false;
  }

  #start(s: number, item: Item, ticket: number): void {
    this.#track(s, item, ticket, runThroughSegment(this.#segs[s].seg, this.#defs, this.#stats, item.value, ticket, this.#signal));
  }

  /**
   * One task for several items. The items done in it are finished together, and their slots freed,
   * before the next pump, so the slots come back as one batch, not one by one; a failed item goes
   * on (retries, verdict) on its own, in its own slot.
   */
  #startBatch(s: number, items: Item[], tickets: number[]): void {
    const st = this.#segs[s];
    const signal = this.#signal;
    const settle = (outs: Outcome[]): void => {
      this.#inflight.delete(p);
      const pumping = this.#pumping;
      this.#pumping = true; // a slot's release wakes the pump: let it run once, after all of them
      try {
        items.forEach((item, i) => {
          const o = outs[i];
          if (!o.ok) {
            this.#track(s, item, tickets[i], settleTries(st.seg, this.#defs, this.#stats, o, tickets[i], signal));
            return;
          }
          st.seg.release(tickets[i]);
          st.holding--;
          this.#hooks.finished(s, item, { kind: 'ok', value: o.value });
        });
      } finally {
        this.#pumping = pumping;
      }
      this.#pump();
    };
    const p: Promise<void> = st.seg
      .execBatch(
        items.map((it) => it.value),
        tickets,
        signal,
      )
      .then(settle, (error: unknown) => settle(items.map((it) => failure(error, st.seg.start, it.value, st.seg.start))));
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
        this.#hooks.finished(s, item, r);
        this.#pump();
      });
    this.#inflight.add(p);
  }
}
