/**
 * A pipeline's per-stage counters and latency histograms, in shared memory so the workers that run
 * fused stages count into them directly (layout and progress words: src/pool/chain.ts).
 */
import { fastNow as now } from '../../memory/clock.js';
import { type HistogramSummary, SharedHistogram } from '../../memory/histogram.js';
import {
  DEAD,
  DONE,
  FAILED,
  INFLIGHT,
  markedFailed,
  progressAt,
  QUEUED,
  RETRIED,
  STAGE_WORDS,
  stateOf,
  statsBytes,
} from './chain.js';
import type { StageDef } from './stage-options.js';

/** One stage's figures, as of now. Latencies are in milliseconds. */
export interface StageMetrics {
  name: string;
  kind: 'pool' | 'run' | 'filter';
  /** Whether the stage runs inside one task with its neighbours on the same pool. */
  fused: boolean;
  /** Items running in the stage now. */
  inFlight: number;
  /** Items waiting for the stage: in front of it, in its pool's queue, or for its gate or limiter. */
  queued: number;
  /** Tries that succeeded. */
  done: number;
  /** Tries that failed (retried or not). */
  failed: number;
  /** Tries started again by the stage's retry policy. */
  retried: number;
  /** Inputs that left the pipeline at this stage as dead letters. */
  deadLettered: number;
  /** Successful tries per second since the pipeline's first input. */
  throughput: number;
  /** Run time of each try: p50, p90, p99, max, mean, count. */
  latency: HistogramSummary;
}

/** What `pipeline.metrics()` returns. */
export interface PipelineMetrics {
  stages: StageMetrics[];
  /** Inputs inside the pipeline now (pulled, not yet yielded or dead-lettered). */
  inFlight: number;
  /** Outputs yielded. */
  outputs: number;
  /** Inputs dead-lettered, all stages. */
  deadLettered: number;
}

/** Each compiled pipeline's stats (a test seam: `skein/internal`'s pipelineStatsWords). */
const statsOf = new WeakMap<object, PipelineStats>();

/** The shared counter words of `pipeline` once it has compiled (chain.ts lays them out); for tests. */
export function pipelineStatsWords(pipeline: object): Int32Array | undefined {
  return statsOf.get(pipeline)?.words;
}

/** Records `stats` as `pipeline`'s (see {@link pipelineStatsWords}). */
export function noteStats(pipeline: object, stats: PipelineStats): void {
  statsOf.set(pipeline, stats);
}

export class PipelineStats {
  readonly sab: SharedArrayBuffer;
  readonly words: Int32Array;
  readonly hists: SharedArrayBuffer[];
  /** Main-thread queue lengths per stage (items waiting in front of it), summed over runs. */
  readonly waiting: number[];
  readonly #p0: number;
  readonly #tickets: number;
  #startedAt = 0;
  inFlight = 0;
  outputs = 0;

  constructor(stages: number, tickets: number) {
    this.sab = new SharedArrayBuffer(statsBytes(stages, tickets));
    this.words = new Int32Array(this.sab);
    this.hists = Array.from({ length: stages }, () => new SharedHistogram().sab);
    this.waiting = new Array<number>(stages).fill(0);
    this.#p0 = progressAt(stages);
    this.#tickets = tickets;
  }

  started(): void {
    if (this.#startedAt === 0) this.#startedAt = now();
  }

  add(stage: number, word: number, n = 1): void {
    Atomics.add(this.words, stage * STAGE_WORDS + word, n);
  }

  snapshot(defs: readonly StageDef[], fused: readonly boolean[]): PipelineMetrics {
    const w = this.words;
    // Chain tasks in flight that are at a stage without running it (in the pool's queue, or at a gate).
    const queuedAt = new Array<number>(defs.length).fill(0);
    for (let t = 0; t < this.#tickets; t++) {
      const v = Atomics.load(w, this.#p0 + t);
      if (v === 0 || markedFailed(v)) continue; // marked: failed there, not waiting (chain.ts P5)
      const state = stateOf(v);
      if (state % 2 === 0 && state / 2 < defs.length) queuedAt[state / 2]++;
    }
    const secs = this.#startedAt === 0 ? 0 : (now() - this.#startedAt) / 1000;
    let dead = 0;
    const stages = defs.map((d, j): StageMetrics => {
      const at = (k: number): number => Atomics.load(w, j * STAGE_WORDS + k);
      // Counts only grow (DONE is taken back only after it was added, progress-words.ts), so they
      // read unsigned: 2^32 - 1 before a wrap to 0, a counter reset to a scraper. Read signed, they
      // went negative past 2^31 items of one stage (~6 h at 100k items/s).
      const count = (k: number): number => at(k) >>> 0;
      dead += count(DEAD);
      return {
        name: d.name,
        kind: d.kind,
        fused: fused[j],
        inFlight: at(INFLIGHT),
        queued: this.waiting[j] + queuedAt[j] + at(QUEUED),
        done: count(DONE),
        failed: count(FAILED),
        retried: count(RETRIED),
        deadLettered: count(DEAD),
        throughput: secs > 0 ? count(DONE) / secs : 0,
        latency: new SharedHistogram(this.hists[j]).summary(),
      };
    });
    return { stages, inFlight: this.inFlight, outputs: this.outputs, deadLettered: dead };
  }
}
