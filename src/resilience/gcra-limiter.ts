/**
 * The base of the GCRA limiters, {@link TokenBucket} and {@link LeakyBucket}: what their classes
 * share besides the algorithm (gcra.ts): the options checked at the call site (or the rebuild token
 * taken as it is), the {@link GcraBucket} over the handle's memory, and `capacity`. Each subclass
 * keeps its own rate getter, figures and acquires: those are where the two differ.
 */
import type { SharedObject } from '../memory/handle.js';
import { isReopen, type Reopen, SharedObjectBase } from '../memory/shared-object.js';
import { GcraBucket, type GcraConfig, type GcraKind, type GcraOptions } from './gcra.js';

/**
 * A subclass constructor calls `super(KIND, options)` with its public options (or the rebuild
 * token) and reaches the bucket through `bucket` (a prototype accessor, so `handle` stays the only
 * own enumerable property).
 */
export abstract class GcraLimiterBase<R extends string> extends SharedObjectBase<GcraConfig<R>> {
  readonly #bucket: GcraBucket;

  protected constructor(kind: GcraKind<R, SharedObject>, options: GcraOptions<R> | Reopen<GcraConfig<R>>) {
    super(kind, isReopen<GcraConfig<R>>(options) ? options : kind.checkConfig(options));
    const c = this.handle.config;
    this.#bucket = new GcraBucket(this.handle.sab, c.capacity, c[kind.rateName]);
  }

  /** @internal The bucket over this limiter's memory. */
  protected get bucket(): GcraBucket {
    return this.#bucket;
  }

  /** Most units the bucket holds: tokens (the burst) of a TokenBucket, waiting calls of a LeakyBucket. */
  get capacity(): number {
    return this.#bucket.capacity;
  }
}
