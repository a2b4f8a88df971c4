/**
 * Consecutive stages on one pool: a segment (segment.ts) whose items run as chain tasks (chain.ts)
 * in the workers, one item per task or, for quick items, several per task.
 */
import { newSharedId } from '../../memory/handle.js';
import { SharedHistogram } from '../../memory/histogram.js';
import { Step, stepHook } from '../../memory/step-hook.js';
import {
  CHAIN_BATCH_FN,
  CHAIN_FN,
  type ChainBatch,
  type ChainItemResult,
  type ChainSpec,
  type ChainTask,
} from './chain.js';
import { type ErrorRecord, recordToError, type SubmitOptions, submitWhenRoom, type WorkerPool } from '../../pool/index.js';
import { ChainSpecMissingError, ChainStageError } from '../errors.js';
// Errors a stage's policies throw in a worker arrive here as their own classes: each layer's
// errors module registers its classes when loaded (memory/error-codec.ts).
import '../../resilience/errors.js';
import { Semaphore } from '../../sync/semaphore.js';
import { encodeBatchColumns, forEachResult, isFrame, valueOf } from './batch-frame.js';
import type { PipelineStats } from './pipeline-stats.js';
import { ProgressWords } from './progress-words.js';
import { failure, type Outcome, Segment } from './segment.js';
import type { StageDef } from './stage-options.js';

/**
 * How long one batch task should take, in ms of work in the worker. Each task costs the main thread
 * a submit, a wake-up and a settle (~100-150 µs of its CPU on a busy 2-core VM, measured on
 * bench/pipeline.ts), and the worker a wake-up of the main thread: batching items of ~100 µs makes
 * that cost small beside the work, while a batch short enough leaves little imbalance between
 * workers at the end of a run. 16 ms (batches of 64 of the bench's ~180 µs items, with the default
 * concurrency) against 8 (batches of 32): the cold 20k-line run ~4% faster (0.80x to 0.835x the
 * fused floor, median of 10 interleaved runs, Node 20).
 */
const BATCH_TARGET_MS = 16;
const MAX_BATCH = 64;

/** Consecutive stages on one pool, run as chain tasks. */
export class PoolSegment extends Segment {
  readonly #pool: WorkerPool;
  readonly #spec: ChainSpec;
  /** Each try's progress word (chain.ts P1-P6), as this thread sees it. */
  readonly #progress: ProgressWords;
  readonly #timeouts: number[];
  /** The segment's stages' run-time histograms (recorded by the workers' runners). */
  readonly #hists: SharedHistogram[];
  /** Worker ms per item through the whole segment, from those histograms; 0 = none measured yet. */
  #itemMs = 0;
  /** Calls since the estimate was last read from the histograms (every 32nd reads them again). */
  #sinceEstimate = 31;
  /** Chain tasks of this segment submitted and not yet settled (over all runs). */
  #tasksOut = 0;
  /**
   * A task of this segment has come back, so its spec has reached a worker. Until then every task
   * carries the spec: without it, a run's whole first window (then up to 64 tasks per core, sent as
   * the workers start) was answered ChainSpecMissingError by workers that had not seen it, and sent again.
   * After, tasks go without it; a worker that still lacks it answers so, and that task is sent again
   * with it.
   */
  #specOut = false;
  /** A look again at part batches held back while the pool had tasks queued (batchSize). */
  #recheck: ReturnType<typeof setTimeout> | undefined;

  /**
   * Its outputs go on to another pool segment: they stay in the bytes they came back in (FrameValue)
   * and that segment's batch frames copy them in as they are, so the main thread hands a batch's
   * bytes from pool to pool without decoding and encoding each item's value.
   */
  readonly #passOn: boolean;

  constructor(start: number, end: number, defs: readonly StageDef[], stats: PipelineStats, ticketBase: number, passOn = false) {
    const group = defs.slice(start, end);
    const concurrency = Math.max(...group.map((d) => d.concurrency));
    super(start, end, concurrency, defs[start].buffer, ticketBase);
    this.#pool = defs[start].pool as WorkerPool;
    this.#passOn = passOn;
    const n = defs.length;
    const inGroup = (j: number): boolean => j >= start && j < end;
    // A stage allowed fewer items than its segment runs at once gets a shared gate in the workers.
    const gates = defs.map((d, j) => (inGroup(j) && d.concurrency < concurrency ? new Semaphore(d.concurrency) : null));
    this.#spec = {
      id: newSharedId(),
      fns: defs.map((d, j) => (inGroup(j) ? d.fn : '')),
      stats: stats.sab,
      hists: stats.hists,
      breakers: defs.map((d, j) => (inGroup(j) && d.breaker ? d.breaker : null)),
      limiters: defs.map((d, j) => (inGroup(j) && d.limiter ? d.limiter : null)),
      gates,
      timeouts: defs.map((d, j) => (inGroup(j) ? d.timeout : 0)),
    };
    this.#hists = stats.hists.slice(start, end).map((sab) => new SharedHistogram(sab));
    const pool = this.#pool;
    this.#progress = new ProgressWords(
      stats.words,
      n,
      end,
      (id) => pool.getHealthStatus().some((h) => h.workerId === id && h.alive),
      (j) => {
        // P7: the permit a runner took with it when its worker died inside stage j. (One the gate
        // refuses, as past its permits, was given back after all: nothing is owed.)
        try {
          gates[j]?.release();
        } catch {
          /* nothing owed */
        }
      },
    );
    // A pool-level limit backs the stages' own timers only when it cannot cut a slow wait short:
    // every stage has a timeout and none waits for a gate or a limiter. It stops a stuck synchronous task.
    this.#timeouts = defs.map(() => 0);
    for (let k = start; k < end; k++) {
      let sum = 0;
      for (let j = k; j < end && sum >= 0; j++) {
        sum = defs[j].timeout > 0 && !this.#spec.gates[j] && !defs[j].limiter ? sum + defs[j].timeout : -1;
      }
      this.#timeouts[k] = sum > 0 ? sum + 250 : 0;
    }
  }

  /**
   * A task to the pool. One with a `maxQueue` may hold fewer tasks than the stage's window: they
   * wait for room, as pool.map's do, instead of failing the item with QueueFullError.
   */
  #submit(input: unknown, opts: SubmitOptions): Promise<unknown> {
    return submitWhenRoom(this.#pool, input, opts);
  }

  async exec(from: number, value: unknown, ticket: number, signal: AbortSignal): Promise<Outcome> {
    const t = this.ticketBase + ticket;
    const held = this.#progress.held(t);
    if (held) await held; // a retry on a ticket whose last runner still runs (P6)
    const g = this.#progress.begin(t, from);
    const task: ChainTask = { v: valueOf(value), k: from, e: this.end, id: this.#spec.id, t, g };
    if (!this.#specOut) task.s = this.#spec;
    const timeout = this.#timeouts[from];
    const opts = timeout > 0 ? { fn: CHAIN_FN, signal, timeout } : { fn: CHAIN_FN, signal };
    this.#tasksOut++;
    try {
      for (;;) {
        try {
          const out = await this.#submit(task, opts);
          this.#specOut = true;
          return { ok: true, value: out, stage: -1, error: undefined, hasValue: false, from, input: value };
        } catch (err) {
          if (err instanceof ChainSpecMissingError && !task.s) {
            task.s = this.#spec;
            continue;
          }
          if (err instanceof ChainStageError) return failure(err, from, value, from);
          return failure(err, from, value, this.#progress.takeOver(t, g, from));
        }
      }
    } finally {
      this.#tasksOut--;
      this.#progress.end(t);
    }
  }

  /** P6: a ticket whose runner may still run a stage is given out again only once it has left. */
  protected override held(ticket: number): Promise<unknown> | undefined {
    return this.#progress.held(this.ticketBase + ticket);
  }

  // A lone item goes as a one-item batch: its frame is a few stores, exec's task object goes
  // through the general codec. (exec stays for retries and for reruns after a batch's worker died.)
  override get batchesAlone(): boolean {
    return true;
  }

  /**
   * Items to batch: enough to make one task last about BATCH_TARGET_MS of work, no more than leaves
   * every worker two batches of the segment's slots (so none waits for the main thread between
   * batches); 0 until the stages' run times are known. A smaller batch waits for more items or for
   * slots to free, unless so few tasks are out that a worker could run dry (and the segment's
   * outputs are wanted downstream now: `urgent`).
   */
  protected override batchSize(queued: number, free: number, urgent: boolean, more: boolean): number {
    const limit = this.#batchLimit();
    const workers = Math.max(1, this.#pool.getWorkerCount());
    // Until the stages' cost is known (items may wait on I/O for long), items go one by one; but not
    // into a backlog: while the pool has tasks queued (its workers all busy, or still starting) and
    // this segment has a task out per worker, the rest wait for the first results and then go in
    // batches. Sent one by one, the whole first window (the stage's concurrency: 256 items on 2
    // cores) queued up as one-item tasks while the workers started, each costing a task's overhead.
    // Not a lone item that no more can join (a `process()` call's one item): it goes now, as below.
    // Many queued with no more to come (a `processBatch` whose inputs all fit the window) still wait:
    // sent one by one they were the very backlog this hold is for.
    if (limit === 0) {
      if ((!more && queued <= 1) || this.#tasksOut < workers || this.#pool.getQueueLength() === 0) return 1;
      this.#lookAgainSoon();
      return 0;
    }
    const runDry = this.#tasksOut < 2 * workers;
    const want = Math.min(queued, limit);
    // A part batch waits while the workers have work waiting for them (this segment's tasks out for
    // all of them, and some not yet started: with several tasks per worker none may be), or while
    // this segment's outputs wait for room downstream anyway (not urgent). Items that trickle in
    // (pulled one by one as the consumer takes outputs) then gather into full batches instead of
    // going as one-item tasks: with a quick stage ahead of a slow one, 19k tasks for 20k items became
    // ~800, and the CPU of the whole run fell ~14% (bench/pipeline.ts, skein-two-pools, Node 20).
    // None of that when no more items can come to this run's batch (a `process()` call's one item):
    // holding it back would only delay it.
    if (want < limit && more) {
      if (!urgent) return 0; // downstream's progress pumps again
      if (!runDry && this.#pool.getQueueLength() > 0) {
        this.#lookAgainSoon();
        return 0;
      }
    }
    if (free >= want) return want;
    return runDry ? free : 0;
  }

  /**
   * Items held back while the pool has a backlog: a worker may take the queued tasks without any of
   * this segment's tasks ending (several tasks per worker, some of them long, or tasks of others),
   * so look again soon rather than wait for a release (the run waiting longest; the others when a
   * release comes).
   */
  #lookAgainSoon(): void {
    if (this.#recheck !== undefined) return;
    this.#recheck = setTimeout(() => {
      this.#recheck = undefined;
      this.wakeFirst();
    }, 1);
  }

  #batchLimit(): number {
    if (++this.#sinceEstimate >= 32 || this.#itemMs === 0) {
      this.#sinceEstimate = 0;
      let ms = 0;
      for (const h of this.#hists) ms += h.mean();
      this.#itemMs = ms;
    }
    if (this.#itemMs === 0) return 0;
    const perWorker = Math.floor(this.concurrency / (2 * Math.max(1, this.#pool.getWorkerCount())));
    return Math.max(1, Math.min(MAX_BATCH, perWorker, Math.round(BATCH_TARGET_MS / this.#itemMs)));
  }

  /**
   * One chain batch task for all the values (chain.ts ChainBatch); per item, P1-P4 as in exec.
   *
   * When the whole task fails (its worker crashed, the pool's time limit, an abort), only the item
   * that was running (its progress word odd, P4) fails with that error. The others did not cause
   * it: those not started, and those finished whose outputs died with the worker, run again alone
   * from the segment's start, and the failure is not counted against them.
   */
  override async execBatch(values: readonly unknown[], tickets: readonly number[], signal: AbortSignal): Promise<Outcome[]> {
    const from = this.start;
    const n = values.length;
    const ts = new Array<number>(n);
    const gens = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const t = this.ticketBase + tickets[i];
      ts[i] = t;
      gens[i] = this.#progress.begin(t, from);
    }
    // The object form (chain.ts ChainBatch), made only when the bytes cannot go: the spec rides
    // along, or a value holds shared memory. It carries values, not the bytes a previous pool
    // segment left them in.
    let batch: ChainBatch | undefined;
    const objectForm = (): ChainBatch =>
      (batch ??= { b: values.map((v, i) => ({ v: valueOf(v), k: from, t: ts[i], g: gens[i] })), e: this.end, id: this.#spec.id });
    let withSpec = !this.#specOut;
    const timeout = this.#timeouts[from] * n;
    const opts = timeout > 0 ? { fn: CHAIN_BATCH_FN, signal, timeout } : { fn: CHAIN_BATCH_FN, signal };
    let outs: (Outcome | undefined)[];
    this.#tasksOut++;
    try {
      for (;;) {
        try {
          // As bytes (batch-frame.ts), one frame for the batch, unless the object form must go.
          const frame = withSpec ? null : encodeBatchColumns(values, from, ts, gens, this.end, this.#spec.id);
          let input: Uint8Array | ChainBatch;
          if (frame) input = frame;
          else {
            input = objectForm();
            if (withSpec) input.s = this.#spec;
          }
          // The frame is ours alone: handed over (transfer), the pool takes it without a copy.
          const answer = (await this.#submit(input, frame ? { ...opts, transfer: [frame.buffer as ArrayBuffer] } : opts)) as
            | ChainItemResult[]
            | Uint8Array;
          this.#specOut = true;
          const outcomes: Outcome[] = [];
          const settle = (ok: boolean, v: unknown, i: number): void => {
            outcomes.push(
              ok
                ? { ok: true, value: v, stage: -1, error: undefined, hasValue: false, from, input: values[i] }
                : failure(recordToError(v as ErrorRecord), from, values[i], from),
            );
          };
          if (isFrame(answer)) forEachResult(answer, this.#passOn, settle);
          else for (let i = 0; i < answer.length; i++) settle(answer[i][0] === 1, answer[i][1], i);
          return outcomes;
        } catch (err) {
          if (err instanceof ChainSpecMissingError && !withSpec) {
            withSpec = true;
            continue;
          }
          // A lone item is the only suspect: judged as exec judges it (P4), not rerun uncounted.
          const alone = values.length === 1;
          outs = values.map((v, i) =>
            alone || signal.aborted || this.#progress.running(ts[i], gens[i])
              ? failure(err, from, v, this.#progress.takeOver(ts[i], gens[i], from))
              : undefined,
          );
          if (stepHook !== undefined) stepHook(Step.PipelineBatchJudged);
          for (let i = 0; i < values.length; i++) if (!outs[i]) this.#progress.uncount(ts[i], gens[i], from);
          break;
        }
      }
    } finally {
      this.#tasksOut--;
      for (const t of ts) this.#progress.end(t);
    }
    return Promise.all(outs.map((o, i) => o ?? this.exec(from, values[i], tickets[i], signal)));
  }
}
