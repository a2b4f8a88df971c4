import { MAX_TIMER_MS } from '../memory/clock.js';
import { abortError, watchAbort } from '../memory/wait/index.js';
import { type BackoffOptions, delays, type ResolvedBackoff, resolveBackoff } from './backoff.js';
import { PolicyEvent, type Subscription } from './events.js';
import {
  checkExecuteOptions,
  checkFunction,
  delay,
  type ExecuteOptions,
  NEVER_ABORTED,
  type Policy,
} from './policy.js';
import { allKeys, integer, object, onlyKeys } from '../memory/validate.js';

/** What a {@link RetryPolicy} passes to each try. */
export interface RetryContext {
  /** 1 for the first try, 2 for the first retry, ... */
  readonly attempt: number;
  /** The caller's signal (never aborted when it gave none). */
  readonly signal: AbortSignal;
}

/** Options of a {@link RetryPolicy}; the delay options are described in {@link BackoffOptions}. */
export interface RetryOptions extends BackoffOptions {
  /** Tries in all, the first included: an integer >= 1, or `Infinity`. Default 3. */
  maxAttempts?: number;
  /** Whether to retry after `err` (thrown by try number `attempt`). Default: retry every error. */
  retryIf?: (err: unknown, attempt: number) => boolean;
}

const RETRY_KEYS = allKeys<RetryOptions>({
  maxAttempts: true,
  retryIf: true,
  backoff: true,
  initialDelay: true,
  maxDelay: true,
  multiplier: true,
  jitter: true,
});

/** `onRetry`: a try failed and another follows after `delay` ms. */
export interface RetryEvent {
  /** The try that failed (1 for the first). */
  readonly attempt: number;
  /** Milliseconds before the next try. */
  readonly delay: number;
  readonly error: unknown;
}

/**
 * `onGiveUp`: the policy stops after `attempts` tries and rethrows `error`, or, when one of its
 * callbacks threw, `callbackError` (see {@link RetryPolicy}).
 */
export interface GiveUpEvent {
  readonly attempts: number;
  /** What the last try threw. */
  readonly error: unknown;
  /**
   * `'attempts'` when the tries ran out, `'retryIf'` when `retryIf` refused the error or threw,
   * `'backoff'` when the backoff function threw (or returned no valid delay).
   */
  readonly reason: 'attempts' | 'retryIf' | 'backoff';
  /**
   * Only when `retryIf` or the backoff function threw: what it threw. The policy rethrows this in
   * place of `error`, with `error` as its `cause` where it had none.
   */
  readonly callbackError?: unknown;
}

/**
 * Runs a function again when it fails, waiting between tries as `backoff` says. When it gives up
 * (tries used up, or `retryIf` said no) it rethrows the last error itself, its `cause` chain intact.
 *
 * When `retryIf` or a backoff function throws (a bug in it), the retries end there, as p-retry ends
 * them when its callback throws: `onGiveUp` fires once (reason `'retryIf'` or `'backoff'`, with both
 * errors), and the caller gets what the callback threw, which names the bug. The last try's error
 * becomes its `cause` (non-enumerable, as `new Error(msg, { cause })` sets it) when it is an
 * extensible object without a `cause` of its own; one that has a cause keeps it, and a thrown
 * primitive stays as thrown: there the try's error is in the `onGiveUp` event only.
 * An abort of `execute`'s signal stops it at once, during a try or during a wait: it rejects with
 * `AbortError` and clears the pending timer. No timer outlives an `execute`.
 *
 * @example
 * ```ts
 * const retry = new RetryPolicy({ maxAttempts: 5, backoff: 'decorrelated', initialDelay: 50,
 *                                 retryIf: (err) => !(err instanceof BrokenCircuitError) });
 * const body = await retry.execute(({ attempt, signal }) => fetchJson(url, { signal }));
 * ```
 */
export class RetryPolicy implements Policy<RetryContext> {
  readonly #retried = new PolicyEvent<RetryEvent>();
  readonly #gaveUp = new PolicyEvent<GiveUpEvent>();
  readonly #maxAttempts: number;
  readonly #backoff: ResolvedBackoff;
  readonly #retryIf: ((err: unknown, attempt: number) => boolean) | undefined;

  constructor(opts: RetryOptions = {}) {
    onlyKeys(object(opts, 'RetryPolicy options'), 'RetryPolicy options', RETRY_KEYS);
    // Infinity: retry until retryIf says no or the caller aborts.
    const max = integer(opts.maxAttempts ?? 3, 'maxAttempts', { min: 1, infinity: true });
    if (opts.retryIf !== undefined) checkFunction(opts.retryIf, 'retryIf');
    this.#maxAttempts = max;
    this.#backoff = resolveBackoff(opts);
    this.#retryIf = opts.retryIf;
  }

  /** Tries in all, the first included. */
  get maxAttempts(): number {
    return this.#maxAttempts;
  }

  /** Calls `listener` each time a try fails and another will follow (before the wait). */
  onRetry(listener: (e: RetryEvent) => void): Subscription {
    return this.#retried.subscribe(listener, 'RetryPolicy.onRetry: listener');
  }

  /** Calls `listener` when the policy stops retrying and rethrows (not on an abort). */
  onGiveUp(listener: (e: GiveUpEvent) => void): Subscription {
    return this.#gaveUp.subscribe(listener, 'RetryPolicy.onGiveUp: listener');
  }

  /**
   * Runs `fn({ attempt, signal })` until it succeeds, the tries run out, `retryIf` says no, or
   * `retryIf` or the backoff function throws.
   */
  async execute<T>(fn: (ctx: RetryContext) => T | PromiseLike<T>, opts?: ExecuteOptions): Promise<T> {
    checkFunction(fn, 'RetryPolicy.execute: fn');
    checkExecuteOptions(opts, 'RetryPolicy.execute');
    const signal = opts?.signal ?? NEVER_ABORTED;
    if (signal.aborted) throw abortError(signal);
    let next: (() => number) | undefined; // made on the first failure: a success at once allocates none
    for (let attempt = 1; ; attempt++) {
      try {
        const ctx: RetryContext = { attempt, signal };
        return await (signal === NEVER_ABORTED ? fn(ctx) : untilAborted(fn, ctx, signal));
      } catch (err) {
        if (signal.aborted) throw abortError(signal);
        const outOfTries = attempt >= this.#maxAttempts;
        let refused: boolean;
        try {
          refused = !outOfTries && this.#retryIf !== undefined && !this.#retryIf(err, attempt);
        } catch (thrown) {
          throw this.#callbackThrew(err, attempt, 'retryIf', thrown);
        }
        if (outOfTries || refused) {
          this.#gaveUp.emit({ attempts: attempt, error: err, reason: outOfTries ? 'attempts' : 'retryIf' });
          throw err;
        }
        let wait: number;
        try {
          next ??= delays(this.#backoff);
          wait = Math.min(next(), MAX_TIMER_MS);
        } catch (thrown) {
          throw this.#callbackThrew(err, attempt, 'backoff', thrown);
        }
        this.#retried.emit({ attempt, delay: wait, error: err });
        await delay(wait, signal === NEVER_ABORTED ? undefined : signal);
      }
    }
  }

  /** Gives up on `err` because a callback threw `thrown`: returns what to rethrow. */
  #callbackThrew(err: unknown, attempt: number, reason: 'retryIf' | 'backoff', thrown: unknown): unknown {
    chainCause(thrown, err);
    this.#gaveUp.emit({ attempts: attempt, error: err, reason, callbackError: thrown });
    return thrown;
  }
}

/** Sets `cause` on `thrown` where it is an extensible object that has none (the try stays reachable). */
function chainCause(thrown: unknown, cause: unknown): void {
  if (typeof thrown !== 'object' || thrown === null) return;
  try {
    if (Object.hasOwn(thrown, 'cause') || !Object.isExtensible(thrown)) return;
    Object.defineProperty(thrown, 'cause', { value: cause, writable: true, enumerable: false, configurable: true });
  } catch {
    // A proxy that refuses: the error goes out unchanged, and the event still has the try's error.
  }
}

/** `fn(ctx)`, but rejects with AbortError as soon as `signal` aborts (what `fn` does later is dropped). */
function untilAborted<T>(
  fn: (ctx: RetryContext) => T | PromiseLike<T>,
  ctx: RetryContext,
  signal: AbortSignal,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const unwatch = watchAbort(signal, () => reject(abortError(signal)));
    let out: T | PromiseLike<T>;
    try {
      out = fn(ctx);
    } catch (err) {
      unwatch();
      reject(err);
      return;
    }
    Promise.resolve(out).then(
      (value) => {
        unwatch();
        resolve(value);
      },
      (err: unknown) => {
        unwatch();
        reject(err);
      },
    );
  });
}
