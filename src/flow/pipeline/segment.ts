/**
 * A segment: the unit the main thread schedules. Consecutive stages on one pool form one segment and
 * run as one chain task in a worker (src/pool/chain.ts), so an item crosses to the workers once for
 * all of them; a `run` stage or a filter is a segment of its own, run on the main thread by the same
 * ChainRunner, so policies and counters behave alike.
 *
 * A segment owns `concurrency` slots (its tickets), shared by every run of the pipeline, so a stage's
 * concurrency holds across concurrent `process` calls too.
 */
import { newSharedId } from '../../memory/handle.js';
import { CHAIN_FN, type ChainSpec, type ChainTask, FAILED, GEN_MASK, INFLIGHT, progressAt, STAGE_WORDS, STATE_SPAN } from './chain.js';
import { ChainRunner, type StageFunction } from './chain-runner.js';
import { registerErrorClass } from '../../pool/index.js';
import { ChainAbandonedError, ChainSpecMissingError, ChainStageError } from '../errors.js';
import type { WorkerPool } from '../../pool/index.js';
import * as resilienceErrors from '../../resilience/errors.js';
import { Semaphore } from '../../sync/semaphore.js';
import type { PipelineStats } from './pipeline-stats.js';
import type { StageDef } from './stage-options.js';

// Errors a stage's policies throw in a worker arrive here as their own classes.
for (const C of Object.values(resilienceErrors)) registerErrorClass(C);
registerErrorClass(ChainStageError);
registerErrorClass(ChainSpecMissingError);
registerErrorClass(ChainAbandonedError);

/** How one try of a segment (from stage `from` to its end) ended. */
export interface Outcome {
  ok: boolean;
  /** The output (ok), or the failed stage's input when `hasValue`. */
  value: unknown;
  /** The failed stage (pipeline index). */
  stage: number;
  error: unknown;
  hasValue: boolean;
  /** Where this try started, and with what: a retry resumes there when the failed stage's input is lost. */
  from: number;
  input: unknown;
}

/** What a filter stage returns for an input it drops. */
export const DROPPED: unique symbol = Symbol('skein.dropped');

export abstract class Segment {
  readonly #free: number[];
  readonly #waiting: (() => void)[] = [];

  constructor(
    readonly start: number,
    readonly end: number,
    readonly concurrency: number,
    readonly buffer: number,
    readonly ticketBase: number,
  ) {
    this.#free = Array.from({ length: concurrency }, (_, i) => concurrency - 1 - i);
  }

  /** A slot (its ticket), or -1 when all are taken; `wake` is then called once one frees. */
  take(wake: () => void): number {
    const t = this.#free.pop();
    if (t !== undefined) return t;
    if (!this.#waiting.includes(wake)) this.#waiting.push(wake);
    return -1;
  }

  release(ticket: number): void {
    this.#free.push(ticket);
    // Wake waiting runs until one takes the slot (a run that no longer needs it leaves it free).
    while (this.#free.length > 0 && this.#waiting.length > 0) (this.#waiting.shift() as () => void)();
  }

  /** Runs stages [from, end) on `value` in slot `ticket`. */
  abstract exec(from: number, value: unknown, ticket: number, signal: AbortSignal): Promise<Outcome>;
}

function failure(err: unknown, from: number, input: unknown, stage: number): Outcome {
  if (err instanceof ChainStageError) {
    const hasValue = Object.hasOwn(err, 'value');
    return { ok: false, value: err.value, stage: err.stage, error: err.cause, hasValue, from, input };
  }
  return { ok: false, value: stage === from ? input : undefined, stage, error: err, hasValue: stage === from, from, input };
}

/** Stages that run on the main thread: one `run` stage or a filter. */
export class LocalSegment extends Segment {
  readonly #runner: ChainRunner;

  constructor(stage: number, def: StageDef, spec: ChainSpec, fns: StageFunction[]) {
    super(stage, stage + 1, def.concurrency, def.buffer, -1);
    this.#runner = new ChainRunner(spec, fns);
  }

  async exec(from: number, value: unknown, _ticket: number, signal: AbortSignal): Promise<Outcome> {
    try {
      const out = await this.#runner.run(value, from, this.end, -1, 0, { signal, workerId: 0 });
      return { ok: true, value: out, stage: -1, error: undefined, hasValue: false, from, input: value };
    } catch (err) {
      return failure(err, from, value, from);
    }
  }
}

/** Consecutive stages on one pool, run as chain tasks. */
export class PoolSegment extends Segment {
  readonly #pool: WorkerPool;
  readonly #spec: ChainSpec;
  readonly #words: Int32Array;
  readonly #p0: number;
  readonly #timeouts: number[];
  /** Chain tasks sent with the spec before every worker had it (a worker asks by ChainSpecMissingError). */
  #gen = 0;

  constructor(start: number, end: number, defs: readonly StageDef[], stats: PipelineStats, ticketBase: number) {
    const group = defs.slice(start, end);
    const concurrency = Math.max(...group.map((d) => d.concurrency));
    super(start, end, concurrency, defs[start].buffer, ticketBase);
    this.#pool = defs[start].pool as WorkerPool;
    const n = defs.length;
    const inGroup = (j: number): boolean => j >= start && j < end;
    this.#spec = {
      id: newSharedId(),
      fns: defs.map((d, j) => (inGroup(j) ? d.fn : '')),
      stats: stats.sab,
      hists: stats.hists,
      breakers: defs.map((d, j) => (inGroup(j) && d.breaker ? d.breaker : null)),
      limiters: defs.map((d, j) => (inGroup(j) && d.limiter ? d.limiter : null)),
      // A stage allowed fewer items than its segment runs at once gets a shared gate in the workers.
      gates: defs.map((d, j) => (inGroup(j) && d.concurrency < concurrency ? new Semaphore(d.concurrency) : null)),
      timeouts: defs.map((d, j) => (inGroup(j) ? d.timeout : 0)),
    };
    this.#words = stats.words;
    this.#p0 = progressAt(n);
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

  async exec(from: number, value: unknown, ticket: number, signal: AbortSignal): Promise<Outcome> {
    const t = this.ticketBase + ticket;
    const g = (this.#gen = (this.#gen % GEN_MASK) + 1); // never 0: a word of 0 means "no task" (P1)
    const word = this.#p0 + t;
    Atomics.store(this.#words, word, g * STATE_SPAN + 2 * from); // P1
    const task: ChainTask = { v: value, k: from, e: this.end, id: this.#spec.id, t, g };
    const timeout = this.#timeouts[from];
    const opts = timeout > 0 ? { fn: CHAIN_FN, signal, timeout } : { fn: CHAIN_FN, signal };
    try {
      for (;;) {
        try {
          const out = await this.#pool.submit(task, opts);
          return { ok: true, value: out, stage: -1, error: undefined, hasValue: false, from, input: value };
        } catch (err) {
          if (err instanceof ChainSpecMissingError && !task.s) {
            task.s = this.#spec;
            continue;
          }
          if (err instanceof ChainStageError) return failure(err, from, value, from);
          return failure(err, from, value, this.#takeOver(word, g, from));
        }
      }
    } finally {
      Atomics.store(this.#words, word, 0);
    }
  }

  /** P4: the task settled without the runner's verdict; returns the stage it was at. */
  #takeOver(word: number, g: number, from: number): number {
    const w = this.#words;
    const v = Atomics.load(w, word);
    if (Math.floor(v / STATE_SPAN) !== g) return from;
    const state = v % STATE_SPAN;
    const j = Math.min(state >> 1, this.end - 1);
    if (state % 2 === 1 && Atomics.compareExchange(w, word, v, g * STATE_SPAN + 2 * j) === v) {
      Atomics.sub(w, j * STAGE_WORDS + INFLIGHT, 1);
    }
    Atomics.add(w, j * STAGE_WORDS + FAILED, 1);
    return j;
  }
}
