/**
 * The small shared objects (WaitGroup, Once, RwLock, Barrier) are a few Int32 state words and one
 * wait word their waiters sleep on. {@link defineWordKind} makes such a kind from its layout and
 * configuration, and {@link WordObjectBase} builds the views, so each class states only what its
 * words mean and how they change.
 *
 * Body (Int32): words 0 .. stateWords-1 belong to the class (its file says which holds what); the
 * wait word (wait/word.ts) follows at index `stateWords`, WORD_SLOTS words long.
 *
 * @example
 * ```ts
 * const FLAG = defineWordKind<NoConfig, Flag>({
 *   name: 'Flag', tag: 100, layout: 1, stateWords: 1,
 *   damage: (v) => (v[0] < 0 ? `its value is ${v[0]}` : undefined),
 *   make: (r) => new Flag(r),
 * });
 * class Flag extends WordObjectBase<NoConfig, 'Flag.changed'> {
 *   constructor(reopen?: Reopen<NoConfig>) { super(FLAG, reopen); }
 *   static from(received: unknown): Flag { return FLAG.open(received); }
 * }
 * ```
 */
import type { SharedObject } from './handle.js';
import {
  corrupt,
  defineSharedKind,
  isReopen,
  noConfig,
  type Reopen,
  type SharedKind,
  SharedObjectBase,
} from './shared-object.js';
import { type WaitWord, WORD_SLOTS, wordAt } from './wait/index.js';

/** What a word class says about its kind. */
export interface WordKindSpec<C, T extends SharedObject> {
  /** The class name; `handle.kind`. */
  readonly name: string;
  /** Its tag in the tag block (see shared-object.ts's table). */
  readonly tag: number;
  /** Its layout version: bump it whenever the body's layout changes. */
  readonly layout: number;
  /** Int32 state words before the wait word. */
  readonly stateWords: number;
  /**
   * The configuration of a new object from its public constructor's argument, checked
   * (InvalidArgumentError if bad). Default: none, `{}`.
   */
  readonly create?: (arg: unknown) => C;
  /** Checks an arriving configuration (see SharedKindSpec.checkConfig). Default: none, `{}`. */
  readonly checkConfig?: (config: unknown) => C;
  /**
   * What is wrong with an arriving body's state words, or undefined if nothing; something wrong
   * fails `from` with CorruptMemoryError naming it.
   */
  readonly damage?: (state: Int32Array, config: C) => string | undefined;
  /** Builds the object over checked memory: `(r) => new X(r)`. */
  readonly make: (reopen: Reopen<C>) => T;
}

/** A word class's kind, as its class uses it. */
export interface WordKind<C, T extends SharedObject> extends SharedKind<C, T> {
  readonly stateWords: number;
  readonly create: (arg: unknown) => C;
}

/** Declares a word kind (a shared kind whose body is `stateWords` Int32 words and a wait word). */
export function defineWordKind<C, T extends SharedObject>(spec: WordKindSpec<C, T>): WordKind<C, T> {
  const { name, stateWords, damage } = spec;
  const kind = defineSharedKind<C, T>({
    name,
    tag: spec.tag,
    layout: spec.layout,
    checkConfig: spec.checkConfig ?? (noConfig as (config: unknown) => C),
    bodyBytes: () => (stateWords + WORD_SLOTS) * 4,
    checkBody:
      damage &&
      ((sab, config) => {
        const what = damage(new Int32Array(sab, 0, stateWords), config);
        if (what !== undefined) throw corrupt(name, what);
      }),
    make: spec.make,
  });
  return { ...kind, stateWords, create: spec.create ?? (() => ({}) as C) };
}

/**
 * The base of a word class: a subclass constructor calls `super(KIND, arg)` with its public
 * argument (or the rebuild token), and reads its words through `v` and its wait word through `word`
 * (prototype accessors, so `handle` stays the only own enumerable property).
 */
export abstract class WordObjectBase<C, P extends string = string> extends SharedObjectBase<C> {
  readonly #v: Int32Array;
  readonly #word: WaitWord<P>;

  protected constructor(kind: WordKind<C, SharedObject>, arg: unknown) {
    super(kind, isReopen<C>(arg) ? arg : kind.create(arg));
    this.#v = new Int32Array(this.handle.sab, 0, kind.stateWords + WORD_SLOTS);
    this.#word = wordAt(this.#v, kind.stateWords);
  }

  /** @internal The body's Int32 words: the state words, then the wait word. */
  protected get v(): Int32Array {
    return this.#v;
  }

  /** @internal The wait word the object's waiters sleep on. */
  protected get word(): WaitWord<P> {
    return this.#word;
  }
}
