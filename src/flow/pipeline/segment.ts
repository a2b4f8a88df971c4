/**
 * A segment: the unit the main thread schedules. Consecutive stages on one pool form one segment and
 * run as one chain task in a worker (src/pool/chain.ts), so an item crosses to the workers once for
 * all of them; a `run` stage or a filter is a segment of its own, run on the main thread by the same
 * ChainRunner, so policies and counters behave alike.
 *
 * A segment owns `concurrency` slots (its tickets), shared by every run of the pipeline, so a stage's
 * concurrency holds across concurrent `process` calls too.
 */
import { ChainRunner, LocalTry, type StageFunction } from './chain-runner.js';
import type { ChainSpec } from './chain.js';
import { callSignal } from '../call-signal.js';
import { ChainStageError } from '../errors.js';
import { Fifo } from '../../memory/fifo.js';
import { isThenable } from '../../memory/thenable.js';
import { watchAbort } from '../../memory/wait/index.js';
import type { StageDef } from './stage-options.js';

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
  /** Runs waiting for a slot, in the order they asked (the set: which are in it). */
  readonly #waiting = new Fifo<() => void>();
  readonly #waitingSet = new Set<() => void>();
  #limit: number;

  constructor(
    readonly start: number,
    readonly end: number,
    readonly concurrency: number,
    readonly buffer: number,
    readonly ticketBase: number,
  ) {
    this.#free = Array.from({ length: concurrency }, (_, i) => concurrency - 1 - i);
    this.#limit = concurrency;
  }

  /**
   * How many of `queued` items to start now as one task ({@link batchSize}), their slots taken and
   * returned; none when it is better to wait, and `wake` is then called once a slot frees.
   */
  admit(queued: number, wake: () => void, urgent: boolean, more: boolean): number[] {
    // A lowered limit (setLimit) leaves fewer slots usable than are free.
    const usable = this.#usable();
    const n = usable > 0 ? Math.min(this.batchSize(queued, usable, urgent, more), usable) : 0;
    if (n <= 0) {
      if (!this.#waitingSet.has(wake)) {
        this.#waitingSet.add(wake);
        this.#waiting.push(wake);
      }
      return [];
    }
    return this.#free.splice(this.#free.length - n, n);
  }

  /**
   * Wakes the run that has waited longest (if a slot is usable), for a reason to wait that can pass
   * without a release. One, not all: many runs held back would each be woken on every look.
   */
  protected wakeFirst(): void {
    if (this.#waiting.length === 0 || this.#usable() === 0) return;
    const wake = this.#waiting.shift();
    this.#waitingSet.delete(wake);
    wake();
  }

  /** Gives slot `ticket` back: at once, or once what {@link held} says still runs in it has ended. */
  release(ticket: number): void {
    const held = this.held(ticket);
    if (held) {
      void held.then(() => {
        this.#free.push(ticket);
        this.#wakeAll();
      });
      return;
    }
    this.#free.push(ticket);
    this.#wakeAll();
  }

  /**
   * Settles once slot `ticket` may be given out again, while a call that was given up still runs
   * in it (chain.ts P6, LocalSegment's given-up calls); undefined if it may now.
   */
  protected held(_ticket: number): Promise<unknown> | undefined {
    return undefined;
  }

  /** Items allowed in at once now: `concurrency` unless lowered (protective mode), never above it. */
  get limit(): number {
    return this.#limit;
  }

  /** Lowers (or restores) how many items may be in at once; items already in finish as they are. */
  setLimit(n: number): void {
    this.#limit = Math.max(1, Math.min(this.concurrency, Math.floor(n)));
    this.#wakeAll();
  }

  /** Slots that may be given out now: free ones, fewer under a lowered limit (setLimit). */
  #usable(): number {
    return Math.min(this.#free.length, this.#limit - (this.concurrency - this.#free.length));
  }

  /**
   * Wakes the runs waiting now, first come first, while slots are usable; one that still cannot
   * start (or no longer needs to) waits again, at the back. Waking every waiting run on each
   * release made n concurrent `process()` calls on a busy stage cost O(n^2) wake-ups (4 000 calls of
   * a concurrency-4 stage took ~10 s).
   */
  #wakeAll(): void {
    for (let n = this.#waiting.length; n > 0 && this.#usable() > 0; n--) {
      const wake = this.#waiting.shift();
      this.#waitingSet.delete(wake);
      wake();
    }
  }

  /** Whether a lone item also goes through {@link execBatch} (a one-item batch costs less to send than exec's task). */
  get batchesAlone(): boolean {
    return false;
  }

  /**
   * Items to start as one task given `queued` waiting and `free` slots (0: wait); `urgent` is false
   * while this segment's finished items wait for room downstream, `more` says whether more items
   * may still come to it in this run. One at a time here.
   */
  protected batchSize(queued: number, free: number, _urgent: boolean, _more: boolean): number {
    return queued > 0 && free > 0 ? 1 : 0;
  }

  /** Runs stages [from, end) on `value` in slot `ticket`. */
  abstract exec(from: number, value: unknown, ticket: number, signal: AbortSignal): Promise<Outcome>;

  /** Runs stages [start, end) on each value, value i in slot tickets[i]; one outcome per value. */
  execBatch(values: readonly unknown[], tickets: readonly number[], signal: AbortSignal): Promise<Outcome[]> {
    return Promise.all(values.map((v, i) => this.exec(this.start, v, tickets[i], signal)));
  }
}

/** The outcome of a try that failed at `stage` (a ChainStageError names the stage itself). */
export function failure(err: unknown, from: number, input: unknown, stage: number): Outcome {
  if (err instanceof ChainStageError) {
    const hasValue = Object.hasOwn(err, 'value');
    return { ok: false, value: err.value, stage: err.stage, error: err.cause, hasValue, from, input };
  }
  return { ok: false, value: stage === from ? input : undefined, stage, error: err, hasValue: stage === from, from, input };
}

/**
 * Stages that run on the main thread: one `run` stage or a filter.
 *
 * A call that returns a promise is given up when the run stops (its ctx.signal aborts), as a pool
 * task is: a function that ignores its signal (a database call that takes no signal) would
 * otherwise hold the consumer's `break` and `Pipeline.close()` until it returned, or forever. Its
 * slot stays taken until the call has really ended, so a later run never exceeds the concurrency.
 * It counts once in the stage's metrics, as a failed try when it is given up (as a pool stage's
 * aborted task does, chain.ts P4): its end, however late, counts nothing.
 */
export class LocalSegment extends Segment {
  readonly #runner: ChainRunner;
  /** Slots whose given-up call still runs: free again once it has ended. */
  readonly #held = new Map<number, Promise<unknown>>();

  constructor(stage: number, def: StageDef, spec: ChainSpec, fns: StageFunction[]) {
    super(stage, stage + 1, def.concurrency, def.buffer, -1);
    this.#runner = new ChainRunner(spec, fns);
  }

  async exec(from: number, value: unknown, ticket: number, signal: AbortSignal): Promise<Outcome> {
    try {
      const held = this.held(ticket);
      if (held) await held; // a retry on a slot whose given-up call still runs
      // The call's own signal (call-signal.ts): calls listening on it pile no listeners on the run's.
      const own = callSignal(signal);
      const ctx = {
        get signal(): AbortSignal {
          return own.signal;
        },
        workerId: 0,
      };
      const local = new LocalTry();
      let out: unknown;
      try {
        out = this.#runner.run(value, from, this.end, -1, 0, ctx, local);
      } catch (err) {
        own.end();
        throw err;
      }
      if (isThenable(out)) {
        const call = Promise.resolve(out);
        void call.then(own.end, own.end);
        out = await this.#untilAborted(call, ticket, signal, () => this.#runner.abandon(local, from));
      } else own.end();
      return { ok: true, value: out, stage: -1, error: undefined, hasValue: false, from, input: value };
    } catch (err) {
      return failure(err, from, value, from);
    }
  }

  /**
   * `call`'s outcome, or the abort's reason as soon as `signal` aborts (`abandon` then counts the
   * try, and the slot stays held until `call` ends).
   */
  #untilAborted(ended: Promise<unknown>, ticket: number, signal: AbortSignal, abandon: () => void): Promise<unknown> {
    const giveUp = (): Promise<never> => {
      abandon();
      this.#held.set(
        ticket,
        ended.then(
          () => this.#held.delete(ticket),
          () => this.#held.delete(ticket),
        ),
      );
      return Promise.reject(signal.reason as Error);
    };
    if (signal.aborted) return giveUp();
    return new Promise((resolve, reject) => {
      const unwatch = watchAbort(signal, () => resolve(giveUp()));
      ended.then(
        (v) => {
          unwatch();
          resolve(v);
        },
        (err: unknown) => {
          unwatch();
          reject(err);
        },
      );
    });
  }

  protected override held(ticket: number): Promise<unknown> | undefined {
    return this.#held.get(ticket);
  }
}
