/**
 * Option and argument checks, shared by every layer, with one wording:
 *
 *   Expected maxWorkers to be an integer >= 1, got 0
 *
 * Each check throws {@link InvalidArgumentError} at the call site and returns the value, so option
 * parsing reads `const n = integer(o.maxWorkers ?? 4, 'maxWorkers', { min: 1 })`. `name` is what the
 * user wrote (`'maxWorkers'`, `'window.size'`); callers that need context prefix it
 * (`'CircuitBreaker resetTimeout'`).
 *
 * Where `Infinity` is legitimate, and why (the same rule in every layer). It is accepted only where
 * it means "no limit", and then the option says so (`{ infinity: true }`, worded "or Infinity"):
 * - waits, timeouts, leases and idle times (`timeout`, `acquireTimeout`, `lease`, `idleTimeout`,
 *   `maxWait`, `taskTimeout`): Infinity = never;
 * - queue bounds held in ordinary memory (`maxQueue` of the pool and the bulkhead; DESIGN's default
 *   is Infinity).
 * It is refused for counts that size shared memory or threads (workers, permits, capacities,
 * windows, `queueLimit`), for rates, and for times that must end for the object to work
 * (`resetTimeout`: a breaker that never half-opens is `forceOpen()`); NaN is refused everywhere.
 */
import { InvalidArgumentError } from './errors.js';

/** A short, readable rendering of a bad value for the "got ..." part. */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol' || typeof v === 'bigint') return `${String(v)}${typeof v === 'bigint' ? 'n' : ''}`;
  if (v === null || typeof v !== 'object') return String(v);
  if (Array.isArray(v)) return 'an array';
  return 'an object';
}

/** Throws the one-wording error: `Expected <name> to be <want>, got <value>`. */
export function invalid(name: string, want: string, got: unknown): never {
  throw new InvalidArgumentError(`Expected ${name} to be ${want}, got ${describeValue(got)}`);
}

/** Bounds of a number check. */
export interface Range {
  /** Inclusive lower bound. */
  min?: number;
  /** Inclusive upper bound. */
  max?: number;
  /** Also accept +Infinity (meaning "no limit"); only where the option's doc says so. */
  infinity?: boolean;
}

function rangeWords(kind: string, r: Range): string {
  const { min, max } = r;
  let s = kind;
  if (min !== undefined && max !== undefined) s += ` in [${min}, ${max}]`;
  else if (min !== undefined) s += ` >= ${min}`;
  else if (max !== undefined) s += ` <= ${max}`;
  return r.infinity ? `${s} or Infinity` : s;
}

function inRange(v: number, r: Range): boolean {
  return (r.min === undefined || v >= r.min) && (r.max === undefined || v <= r.max);
}

/**
 * The words for what was wanted. A number of the right type that misses one bound names that bound
 * (`an integer >= 1, got 0`); anything else gets the whole range.
 */
function wanted(kind: string, v: unknown, typeOk: boolean, r: Range): string {
  if (typeOk && typeof v === 'number') {
    if (r.min !== undefined && v < r.min) return rangeWords(kind, { min: r.min, infinity: r.infinity });
    if (r.max !== undefined && v > r.max) return rangeWords(kind, { max: r.max });
  }
  return rangeWords(kind, r);
}

/** An integer in the range (or Infinity where allowed). */
export function integer(v: unknown, name: string, r: Range = {}): number {
  if (r.infinity && v === Number.POSITIVE_INFINITY) return v;
  const typeOk = typeof v === 'number' && Number.isInteger(v);
  if (!typeOk || !inRange(v as number, r)) invalid(name, wanted('an integer', v, typeOk, r), v);
  return v as number;
}

/** A finite number in the range (or Infinity where allowed). */
export function number(v: unknown, name: string, r: Range = {}): number {
  if (r.infinity && v === Number.POSITIVE_INFINITY) return v;
  const typeOk = typeof v === 'number' && Number.isFinite(v);
  if (!typeOk || !inRange(v as number, r)) invalid(name, wanted('a finite number', v, typeOk, r), v);
  return v as number;
}

/** A finite number > 0 (rates, sizes in ms). */
export function positive(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) invalid(name, 'a finite number > 0', v);
  return v;
}

/** A fraction in (0, 1]. */
export function fraction(v: unknown, name: string): number {
  if (typeof v !== 'number' || !(v > 0 && v <= 1)) invalid(name, 'a fraction in (0, 1]', v);
  return v;
}

/**
 * A number of milliseconds: >= 0, or > 0 with `positive`; Infinity ("never") only with `infinity`.
 */
export function millis(v: unknown, name: string, o: { positive?: boolean; infinity?: boolean } = {}): number {
  const ok =
    typeof v === 'number' &&
    !Number.isNaN(v) &&
    (o.positive ? v > 0 : v >= 0) &&
    (o.infinity === true || v !== Number.POSITIVE_INFINITY);
  if (!ok) {
    const base = `${o.infinity ? 'a' : 'a finite'} number of milliseconds ${o.positive ? '> 0' : '>= 0'}`;
    invalid(name, o.infinity ? `${base} or Infinity` : base, v);
  }
  return v as number;
}

/** A boolean. */
export function boolean(v: unknown, name: string): boolean {
  if (typeof v !== 'boolean') invalid(name, 'a boolean', v);
  return v;
}

/** A function. */
export function callable<F extends (...a: never[]) => unknown>(v: unknown, name: string): F {
  if (typeof v !== 'function') invalid(name, 'a function', v);
  return v as F;
}

/** One of the listed values. */
export function oneOf<T extends string | number>(v: unknown, name: string, values: readonly T[]): T {
  if (!values.includes(v as T)) invalid(name, `one of ${values.map((x) => JSON.stringify(x)).join(', ')}`, v);
  return v as T;
}

/** An object (not null); for an options argument, `name` is e.g. `'CircuitBreaker options'`. */
export function object<T extends object>(v: unknown, name: string): T {
  if (typeof v !== 'object' || v === null) invalid(name, 'an object', v);
  return v as T;
}

/**
 * An object with no own keys but `keys` (its symbol keys are not looked at, nor keys whose value is
 * `undefined`: an option left undefined is as if not given): a misspelt or made-up option
 * (`close({ timeout: 5000 })`, `new WorkerPool({ maxWorker: 4 })`) would otherwise be ignored
 * without a word. Throws `<name> take only 'force', got 'timeout'`, adding `(did you mean 'x'?)`
 * when an unknown key is a near miss of a known one; `name` is plural (`'close options'`). Allocates
 * nothing when every key is known (submit options are checked per task).
 */
export function onlyKeys<T extends object>(v: T, name: string, keys: readonly string[]): T {
  for (const k in v) {
    if (!keys.includes(k) && Object.hasOwn(v, k) && (v as Record<string, unknown>)[k] !== undefined) unknownKeys(v, name, keys);
  }
  return v;
}

function unknownKeys(v: object, name: string, keys: readonly string[]): never {
  const unknown = Object.keys(v).filter((k) => !keys.includes(k) && (v as Record<string, unknown>)[k] !== undefined);
  const q = (ks: readonly string[]): string => ks.map((k) => `'${k}'`).join(', ');
  const near = unknown.map((k) => [k, nearest(k, keys)] as const).filter(([, n]) => n !== undefined);
  const hint =
    near.length === 0
      ? ''
      : unknown.length === 1
        ? ` (did you mean '${near[0][1]}'?)`
        : ` (did you mean ${near.map(([k, n]) => `'${n}' for '${k}'`).join(', ')}?)`;
  throw new InvalidArgumentError(`${name} take only ${q(keys)}, got ${q(unknown)}${hint}`);
}

/** The known key `k` is most likely a slip of: same letters but for case, or at most 2 edits away (a third of its length). */
function nearest(k: string, keys: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Math.min(2, Math.floor(k.length / 3));
  for (const key of keys) {
    const d = key.toLowerCase() === k.toLowerCase() ? 0 : editDistance(k, key);
    if (d <= bestD && (best === undefined || d < bestD)) {
      best = key;
      bestD = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/**
 * The keys of an options type, for {@link onlyKeys}, checked by the compiler both ways: a key the
 * type has and the list lacks, or one the type does not have, fails to compile, so the list cannot
 * drift from the interface (`allKeys<WorkerPoolOptions>({ filename: true, ... })`).
 */
export function allKeys<T>(keys: { readonly [K in keyof Required<T>]: true }): readonly string[] {
  return Object.keys(keys);
}

/** An optional options argument: undefined, or an object. */
export function optionsObject<T extends object>(v: T | undefined, name: string): T | undefined {
  if (v !== undefined) object(v, name);
  return v;
}
