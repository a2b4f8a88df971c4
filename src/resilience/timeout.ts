import { TimeoutError } from '../memory/errors.js';
import { abortError, watchExit } from '../memory/wait/index.js';
import { PolicyEvent, type Subscription } from './events.js';
import {
  checkExecuteOptions,
  checkFunction,
  type ExecuteOptions,
  type Policy,
} from './policy.js';
import { millis } from '../memory/validate.js';

/** What a {@link Timeout} passes to `fn`: its signal, which also names itself as `.signal`. */
export type TimeoutSignal = AbortSignal & { readonly signal: AbortSignal };

/** `onTimeout`: a call ran past the limit. */
export interface TimeoutEvent {
  readonly ms: number;
}

/**
 * Bounds how long a call may take. `execute(fn)` passes `fn` an `AbortSignal` (which also carries
 * itself as `.signal`, so a `({ signal }) =>` callback written for the other policies works
 * unchanged); when `ms` pass first,
 * the signal aborts (its reason is the {@link TimeoutError}) and `execute` rejects with that
 * `TimeoutError` at once, without waiting for `fn` to notice. Whatever `fn` settles with later is
 * dropped. An abort of the caller's own signal rejects with `AbortError` the same way. The timer is
 * cleared however the call ends, so a finished call leaves nothing behind.
 *
 * @example
 * ```ts
 * const timeout = new Timeout(2000);
 * const res = await timeout.execute((signal) => fetch(url, { signal }));
 * const same = await timeout.execute(({ signal }) => fetch(url, { signal }));
 * timeout.onTimeout(({ ms }) => log(`gave up after ${ms} ms`));
 * ```
 */
export class Timeout implements Policy<TimeoutSignal> {
  readonly #ms: number;
  readonly #timedOut = new PolicyEvent<TimeoutEvent>();

  /** @param ms milliseconds, >= 0; `Infinity` sets no timer (the policy then only forwards aborts). */
  constructor(ms: number) {
    this.#ms = millis(ms, 'Timeout ms', { infinity: true });
  }

  /** The limit in milliseconds. */
  get ms(): number {
    return this.#ms;
  }

  /** Calls `listener` each time a call runs past the limit. */
  onTimeout(listener: (e: TimeoutEvent) => void): Subscription {
    return this.#timedOut.subscribe(listener, 'Timeout.onTimeout: listener');
  }

  /** Runs `fn(signal)`; rejects with `TimeoutError` past the limit, `AbortError` on the caller's abort. */
  execute<T>(fn: (signal: TimeoutSignal) => T | PromiseLike<T>, opts?: ExecuteOptions): Promise<T> {
    checkFunction(fn, 'Timeout.execute: fn');
    checkExecuteOptions(opts, 'Timeout.execute');
    const parent = opts?.signal;
    if (parent?.aborted) return Promise.reject(abortError(parent));
    const ms = this.#ms;
    const ctrl = new AbortController();
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const finish = (): boolean => {
        if (done) return false;
        done = true;
        stopExit();
        return true;
      };
      const fail = (err: unknown): void => {
        if (!finish()) return;
        ctrl.abort(err);
        reject(err);
      };
      // The caller's signal (one listener per signal however many calls share it:
      // memory/signal-watch.ts) or the limit (past setTimeout's 24.8 days too) ends the call.
      let timedOut: Error | undefined;
      const stopExit = watchExit(
        parent,
        ms,
        () => (timedOut = new TimeoutError(`the operation timed out after ${ms} ms`)),
        (err) => {
          fail(err);
          if (err === timedOut) this.#timedOut.emit({ ms });
        },
      );
      let out: T | PromiseLike<T>;
      try {
        out = fn(Object.defineProperty(ctrl.signal, 'signal', { value: ctrl.signal }) as TimeoutSignal);
      } catch (err) {
        if (finish()) reject(err);
        return;
      }
      Promise.resolve(out).then(
        (value) => {
          if (finish()) resolve(value);
        },
        (err: unknown) => {
          if (finish()) reject(err);
        },
      );
    });
  }
}
