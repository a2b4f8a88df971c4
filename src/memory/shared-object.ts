/**
 * One way to be a shared object. A class whose state lives in a SharedArrayBuffer and crosses
 * threads by handle (handle.ts) declares its kind once with {@link defineSharedKind} and extends
 * {@link SharedObjectBase}; that gives it, in one path for every kind:
 *
 * - creation: the buffer is allocated with the kind's tag block (shared-tag.ts) and initialised,
 *   the handle `{ kind, id, sab, config }` is made and the object is recorded as live in its thread;
 * - `X.from(received)`: the clone of an object or its handle is checked (shape, kind, the tag block:
 *   magic, kind tag, layout version, size against what the configuration needs; the configuration
 *   itself; the body's fixed words) and rebuilt once per thread. A foreign buffer, one of another
 *   kind or size, or a damaged one fails there, with InvalidArgumentError or CorruptMemoryError;
 * - revival inside skein's transports (`reviveDeep`), through the same checks;
 * - a constructor that takes only the public options: rebuilding passes a {@link Reopen} token that
 *   only this module can make, so no raw handle reaches a public constructor.
 *
 * Kind tags (one per class, never reused; the tag block stores it): Semaphore 1, Mutex 2,
 * WaitGroup 3, Channel 4, CircuitBreaker 5, TokenBucket 6, LeakyBucket 7, SlidingWindowLimiter 8,
 * ConcurrencyManager 9; planned: RwLock 10, Barrier 11, Once 12, pipeline state 13. Tests use 100+.
 *
 * @example
 * ```ts
 * // A shared flag: body = one Int32. (Classes made of Int32 state words and one wait word, like
 * // WaitGroup, Once, RwLock and Barrier, declare themselves shorter with word-object.ts.)
 * const FLAG = defineSharedKind<{ initial: number }, Flag>({
 *   name: 'Flag', tag: 100, layout: 1,
 *   checkConfig: (c) => ({ initial: integer(object<{ initial: unknown }>(c, 'config').initial, 'initial') }),
 *   bodyBytes: () => 4,
 *   init: (sab, c) => { new Int32Array(sab, 0, 1)[0] = c.initial; },
 *   make: (r) => new Flag(r),
 * });
 * class Flag extends SharedObjectBase<{ initial: number }> {
 *   readonly #v: Int32Array;
 *   constructor(initial: number);
 *   /** Rebuilds over existing memory (tag it internal); use {@link Flag.from}. *\/
 *   constructor(initial: number | Reopen<{ initial: number }>);
 *   constructor(initial: number | Reopen<{ initial: number }>) {
 *     super(FLAG, isReopen(initial) ? initial : { initial: integer(initial, 'initial') });
 *     this.#v = new Int32Array(this.handle.sab, 0, 1);
 *   }
 *   static from(received: unknown): Flag { return FLAG.open(received); }
 *   get value(): number { return Atomics.load(this.#v, 0); }
 * }
 * ```
 */
import { CorruptMemoryError, InvalidArgumentError } from './errors.js';
import {
  adopt,
  isHandle,
  liveObject,
  newSharedId,
  registerReviver,
  type SharedHandle,
  type SharedObject,
} from './handle.js';
import { allocateTagged, checkTagged, claimTag, TAG_BYTES, taggedBytes } from './shared-tag.js';
import { object } from './validate.js';

/** The configuration of a kind whose handle carries none (`{}`). */
export type NoConfig = Record<string, never>;

/** `checkConfig` of a kind with no configuration: an object arrived; it is taken as `{}`. */
export const noConfig = (config: unknown): NoConfig => (object(config, 'config'), {});

/** What a class says about its kind: name, tag, layout, and how its memory is sized, made and checked. */
export interface SharedKindSpec<C, T extends SharedObject> {
  /** The class name; `handle.kind`. */
  readonly name: string;
  /** Its tag in the tag block: a positive integer no other kind uses (see the table above). */
  readonly tag: number;
  /** Its layout version: bump it whenever the body's layout changes. */
  readonly layout: number;
  /**
   * Checks a configuration (plain data, no functions; it travels in the handle, so when it arrives
   * it may come from anywhere) and returns it as the kind uses it. InvalidArgumentError if bad.
   */
  readonly checkConfig: (config: unknown) => C;
  /** Bytes of the body (the kind's own layout) for a configuration. */
  readonly bodyBytes: (config: C) => number;
  /** Writes a new body's initial state (the buffer arrives zeroed). */
  readonly init?: (sab: SharedArrayBuffer, config: C) => void;
  /**
   * Checks the words of an arriving body that never change after `init` (a capacity, a size) against
   * the configuration; throws {@link CorruptMemoryError} if they disagree.
   */
  readonly checkBody?: (sab: SharedArrayBuffer, config: C) => void;
  /** Builds the object over checked memory: `(r) => new X(r)`. */
  readonly make: (reopen: Reopen<C>) => T;
}

/** A kind, as its class uses it. */
export interface SharedKind<C, T extends SharedObject> extends SharedKindSpec<C, T> {
  /** `X.from(received)`: the live object of this thread for what arrived, checked. */
  open(received: unknown): T;
  /** A second, separate view over the same memory (tests use it to act as another thread). */
  view(received: unknown): T;
}

/**
 * The token that tells a shared class's constructor to rebuild over checked memory instead of
 * creating new memory. Only this module makes them (a user cannot forge one: see {@link isReopen}).
 */
export interface Reopen<C> {
  readonly handle: SharedHandle<C>;
}

const tokens = new WeakSet<object>();

/** Whether a constructor's argument is a rebuild token made here (the one way to tell). */
export function isReopen<C>(x: unknown): x is Reopen<C> {
  return typeof x === 'object' && x !== null && tokens.has(x);
}

function reopenToken<C>(handle: SharedHandle<C>): Reopen<C> {
  const r = Object.freeze({ handle });
  tokens.add(r);
  return r;
}

/** The handle inside what arrived (the clone of an object, or its handle), of kind `name`. */
function handleIn(received: unknown, name: string): SharedHandle {
  const h = isHandle(received) ? received : (received as SharedObject | null | undefined)?.handle;
  if (!isHandle(h)) throw new InvalidArgumentError(`${name}.from() needs a ${name} or its .handle`);
  if (h.kind !== name) throw new InvalidArgumentError(`${name}.from() was given a handle of a ${h.kind}`);
  return h;
}

/** Checks a handle of kind `k` through and through; returns it with its configuration as checked. */
function checked<C, T extends SharedObject>(k: SharedKindSpec<C, T>, h: SharedHandle): SharedHandle<C> {
  let config: C;
  try {
    config = k.checkConfig(h.config);
  } catch (err) {
    if (!(err instanceof InvalidArgumentError)) throw err;
    throw new InvalidArgumentError(`${k.name}.from() was given a handle whose configuration is bad: ${err.message}`);
  }
  checkTagged(k, h.sab, taggedBytes(k.bodyBytes(config)));
  k.checkBody?.(h.sab, config);
  return { kind: h.kind, id: h.id, sab: h.sab, config };
}

/**
 * Declares a shared kind: claims its tag, registers it for revival inside skein's transports, and
 * returns it with `open` (what `X.from` calls) and `view`.
 */
export function defineSharedKind<C, T extends SharedObject>(spec: SharedKindSpec<C, T>): SharedKind<C, T> {
  if (!Number.isInteger(spec.tag) || spec.tag <= 0) {
    throw new InvalidArgumentError(`shared kind ${spec.name} needs a positive integer tag`);
  }
  claimTag(spec);
  const open = (received: unknown): T => {
    const h = handleIn(received, spec.name);
    const existing = liveObject(h.id);
    if (existing !== undefined) {
      if (existing.handle.kind !== spec.name) {
        throw new InvalidArgumentError(`${spec.name}.from() was given the id of a ${existing.handle.kind}`);
      }
      return existing as T;
    }
    return adopt(spec.make(reopenToken(checked(spec, h))));
  };
  const kind: SharedKind<C, T> = {
    ...spec,
    open,
    view: (received) => spec.make(reopenToken(checked(spec, handleIn(received, spec.name)))),
  };
  registerReviver(spec.name, open);
  views.set(spec.name, kind.view);
  return kind;
}

const views = new Map<string, (received: unknown) => SharedObject>();

/**
 * A second, separate object over the memory of what arrived (checked like `X.from`), not the live
 * one of this thread: what another thread would build. For tests and benchmarks.
 */
export function newView<T extends SharedObject>(received: unknown): T {
  const h = isHandle(received) ? received : (received as SharedObject | null | undefined)?.handle;
  const view = isHandle(h) ? views.get(h.kind) : undefined;
  if (view === undefined) throw new InvalidArgumentError('newView() needs a shared object or its .handle');
  return view(received) as T;
}

/**
 * The base of every shared class: holds `handle`, its only own enumerable property. A subclass
 * constructor calls `super(KIND, isReopen(arg) ? arg : checkedConfig)` first, then builds its views
 * over `this.handle.sab` (body from offset 0) with `this.handle.config`.
 */
export abstract class SharedObjectBase<C> implements SharedObject {
  readonly handle: SharedHandle<C>;

  protected constructor(kind: SharedKindSpec<C, SharedObject>, from: C | Reopen<C>) {
    if (isReopen<C>(from)) {
      this.handle = from.handle;
      return;
    }
    const config = from;
    const sab = allocateTagged(kind, kind.bodyBytes(config));
    kind.init?.(sab, config);
    this.handle = { kind: kind.name, id: newSharedId(), sab, config };
    adopt(this);
  }
}

/** Bytes of a kind's body inside its tagged buffer (the buffer less the tag block). */
export function bodyBytesOf(sab: SharedArrayBuffer): number {
  return sab.byteLength - TAG_BYTES;
}

/** A CorruptMemoryError naming the kind, for `checkBody`. */
export function corrupt(name: string, what: string): CorruptMemoryError {
  return new CorruptMemoryError(`${name} memory is damaged: ${what}`);
}
