/**
 * One call of a stage that has a timeout (chain-runner.ts), paid for only as far as the call needs.
 *
 * It is the call's context: its `signal` aborts when the task's (its parent's) does, or with a
 * TimeoutError when the time is up. That signal is made on first read: most stage functions never
 * read it, and on Node 20 one AbortController costs ~3.6 µs and outlives young-generation GCs
 * (together with what its listeners hold), so one per item per stage made a timed stage ~8x
 * dearer than a plain one in the worker. A synchronous call needs no timer either: it cannot be
 * interrupted, and is judged when it returns ({@link overdue}). Only a call that returns a promise
 * starts one ({@link bound}).
 */
import { MAX_TIMER_MS, fastNow as now } from '../../memory/clock.js';
import { TimeoutError } from '../../memory/errors.js';
import type { StageContext, StageFunction } from './chain-runner.js';
import { isThenable } from '../../memory/thenable.js';
import { watchAbort } from '../../memory/wait/index.js';

/**
 * `fn(v)` under a timeout of `ms`, in a context that follows `parent`'s signal: its value; a promise
 * of it bounded by the time left; or, for a synchronous call that ran over, a TimeoutError thrown.
 */
export function callTimed(ms: number, parent: StageContext, fn: StageFunction, v: unknown): unknown {
  const call = new StageTimeout(ms, parent);
  let r: unknown;
  let later: boolean;
  try {
    r = fn(v, call);
    later = isThenable(r);
  } catch (err) {
    call.end();
    throw err;
  }
  if (later) return call.bound(r as PromiseLike<unknown>);
  call.end();
  if (call.overdue()) throw call.timedOut();
  return r;
}

class StageTimeout implements StageContext {
  readonly #t0 = now();
  readonly #ms: number;
  readonly #parent: StageContext;
  #ctl: AbortController | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #ended = false;
  /** The TimeoutError, once the time ran out (a signal first read after that is born aborted). */
  #expired: TimeoutError | undefined;
  /**
   * Made with the signal, while the call runs: stops passing the parent's abort on. Through
   * watchAbort, so the many calls of a main-thread stage that share their run's signal hold one
   * listener on it, not one each (past 10, Node's MaxListenersExceededWarning).
   */
  #unfollow: (() => void) | undefined;

  // Fields are private, so the context shows only `signal` and `workerId` (as getters: read them,
  // do not spread the context).
  constructor(ms: number, parent: StageContext) {
    this.#ms = ms;
    this.#parent = parent;
  }

  get workerId(): number {
    return this.#parent.workerId;
  }

  get signal(): AbortSignal {
    if (!this.#ctl) {
      const ctl = (this.#ctl = new AbortController());
      const ps = this.#parent.signal;
      if (this.#expired) ctl.abort(this.#expired);
      else if (ps.aborted) ctl.abort(ps.reason);
      else if (!this.#ended) {
        this.#unfollow = watchAbort(ps, () => ctl.abort(ps.reason));
      }
    }
    return this.#ctl.signal;
  }

  /** The call returned (or threw) after its time was up. */
  overdue(): boolean {
    return now() - this.#t0 > this.#ms;
  }

  /**
   * The call's promise, bounded by what is left of the time: when it runs out, the signal (if it was
   * read) aborts and this rejects with TimeoutError; a promise that settles late is judged so too.
   * Either way the call is over then ({@link end}).
   */
  bound(p: PromiseLike<unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#timer = setTimeout(
        () => {
          const err = (this.#expired = this.timedOut());
          this.end();
          this.#ctl?.abort(err);
          reject(err);
        },
        Math.min(MAX_TIMER_MS, Math.max(0, this.#ms - (now() - this.#t0))),
      );
      p.then(
        (v) => {
          this.end();
          if (this.overdue()) reject(this.timedOut());
          else resolve(v);
        },
        (err: unknown) => {
          this.end();
          reject(err);
        },
      );
    });
  }

  /** The call is over: no timer, and the signal (if made) stops following the parent's. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#timer);
    this.#unfollow?.();
  }

  timedOut(): TimeoutError {
    return new TimeoutError(`the stage timed out after ${this.#ms} ms`);
  }
}
