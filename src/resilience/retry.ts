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

/** `onGiveUp`: the policy rethrows `error` after `attempts` tries. */
export interface GiveUpEvent {
  readonly attempts: number;
  readonly error: unknown;
  /** `'attempts'` when the tries ran out, `'retryIf'` when `retryIf` refused the error. */
  readonly reason: 'attempts' | 'retryIf';
}

/**
 * Runs a function again when it fails, waiting between tries as `backoff` says. When it gives up
 * (tries used up, or `retryIf` said no) it rethrows the last error itself, its `cause` chain intact.
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

  /** Runs `fn({ attempt, signal })` until it succeeds, the tries run out, or `retryIf` says no. */
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
        if (outOfTries || (this.#retryIf !== undefined && !this.#retryIf(err, attempt))) {
          this.#gaveUp.emit({ attempts: attempt, error: err, reason: outOfTries ? 'attempts' : 'retryIf' });
          throw err;
        }
        next ??= delays(this.#backoff);
        const wait = Math.min(next(), MAX_TIMER_MS);
        this.#retried.emit({ attempt, delay: wait, error: err });
        await delay(wait, signal === NEVER_ABORTED ? undefined : signal);
      }
    }
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
