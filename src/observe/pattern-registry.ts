/**
 * `PatternRegistry`: one place that knows a program's pools, pipelines, breakers, limiters and
 * managers by name, reports their metrics together, shuts them down in dependency order, and (in
 * protective mode) shrinks the pools and lowers the pipeline stages that open breakers guard, to
 * stop a failure from cascading.
 */
import { EventEmitter } from 'node:events';
import { MAX_TIMER_MS } from '../memory/clock.js';
import { InvalidArgumentError } from '../memory/errors.js';
import { allKeys, millis, object, onlyKeys } from '../memory/validate.js';
import { Pipeline } from '../flow/index.js';
import { WorkerPool } from '../pool/index.js';
import { CircuitBreaker, ConcurrencyManager } from '../resilience/index.js';
import { type Change, isOpen, type Lowered, lowerPool, lowerStage, type ProtectiveEvent, type ProtectiveOptions } from './protective-mode.js';

/** What a registry holds: pools, pipelines, breakers, limiters, managers (anything with a name). */
export type Registrable = WorkerPool | Pipeline<never, unknown> | CircuitBreaker | ConcurrencyManager | object;

export type RegisteredKind = 'pool' | 'pipeline' | 'breaker' | 'manager' | 'limiter' | 'other';

/** Options of `register`. */
export interface RegisterOptions {
  /** Unique name; default `<kind>-<n>`. */
  name?: string;
  /**
   * For a breaker: what it guards, which protective mode throttles: names of registered pools (they
   * shrink), or `'<pipeline>/<stage>'` for a stage of a registered pipeline (its concurrency drops).
   */
  guards?: string[];
}

/** What `shutdownAll` reports. */
export interface ShutdownReport {
  closed: string[];
  /** Names that did not close within the timeout. */
  timedOut: string[];
  failed: { name: string; error: unknown }[];
}

interface Entry {
  name: string;
  kind: RegisteredKind;
  target: object;
  guards: string[];
  listener?: () => void;
}

function kindOf(x: object): RegisteredKind {
  if (x instanceof WorkerPool) return 'pool';
  if (x instanceof Pipeline) return 'pipeline';
  if (x instanceof CircuitBreaker) return 'breaker';
  if (x instanceof ConcurrencyManager) return 'manager';
  const kind = (x as { handle?: { kind?: unknown } }).handle?.kind;
  if (kind === 'TokenBucket' || kind === 'LeakyBucket' || kind === 'SlidingWindowLimiter') return 'limiter';
  return 'other';
}

const REGISTRY_KEYS = allKeys<NonNullable<ConstructorParameters<typeof PatternRegistry>[0]>>({ protective: true });
const PROTECTIVE_KEYS = allKeys<ProtectiveOptions>({ openBreakers: true, keep: true });
const REGISTER_KEYS = allKeys<RegisterOptions>({ name: true, guards: true });
const SHUTDOWN_KEYS = allKeys<NonNullable<Parameters<PatternRegistry['shutdownAll']>[0]>>({ timeout: true });

const ORDER: RegisteredKind[] = ['pipeline', 'other', 'pool', 'manager', 'breaker', 'limiter'];

/** What each limiter kind can tell without a metrics(): the figures it has of these. */
const LIMITER_FIGURES = ['available', 'capacity', 'refillPerSecond', 'level', 'leakPerSecond', 'limit', 'windowMs'] as const;

/**
 * A limiter's figures: a TokenBucket's tokens `available`, a LeakyBucket's `level`, a
 * SlidingWindowLimiter's `limit` and `windowMs`, and their sizes and rates (each only `available`
 * before, so two of the three read `{ available: undefined }`).
 */
function limiterFigures(t: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of LIMITER_FIGURES) {
    const v = t[k];
    if (typeof v === 'number') out[k] = v;
  }
  return out;
}

/**
 * @example
 * ```ts
 * const registry = new PatternRegistry({ protective: { openBreakers: 2 } });
 * registry.register(pool, { name: 'images' });
 * registry.register(breaker, { name: 'thumbs', guards: ['images'] });
 * registry.on('protective', (e) => log(e.state, e.pools));
 * console.log(registry.getGlobalMetrics());
 * await registry.shutdownAll({ timeout: 5000 });
 * ```
 */
export class PatternRegistry extends EventEmitter {
  readonly #entries = new Map<string, Entry>();
  readonly #protective: Required<ProtectiveOptions> | undefined;
  #counter = 0;
  /** While the mode is on: what it lowered, by guarded name (pools and stages apart). */
  #active: { pools: Map<string, Lowered>; stages: Map<string, Lowered> } | undefined;
  /** While on, breakers are also looked at every 250 ms: a listener may miss a transition. */
  #poll: ReturnType<typeof setInterval> | undefined;
  /** shutdownAll calls under way: protective mode stays off meanwhile (#review does nothing). */
  #shuttingDown = 0;

  constructor(opts: { protective?: ProtectiveOptions } = {}) {
    super();
    onlyKeys(object(opts, 'PatternRegistry options'), 'PatternRegistry options', REGISTRY_KEYS);
    const p = opts.protective;
    if (p !== undefined) {
      onlyKeys(object(p, 'protective'), 'PatternRegistry protective options', PROTECTIVE_KEYS); // `{ openBreaker: 2 }`
      if (!Number.isInteger(p.openBreakers) || p.openBreakers < 1) {
        throw new InvalidArgumentError(`Expected protective.openBreakers to be an integer >= 1, got ${String(p.openBreakers)}`);
      }
      const keep = p.keep ?? 0.5;
      if (!(keep > 0 && keep <= 1)) throw new InvalidArgumentError(`Expected protective.keep in (0, 1], got ${String(keep)}`);
      this.#protective = { openBreakers: p.openBreakers, keep };
    }
  }

  /** Adds `target` under a name (returned). */
  register(target: Registrable, opts: RegisterOptions = {}): string {
    if (typeof target !== 'object' || target === null) throw new InvalidArgumentError('register needs an object');
    onlyKeys(object(opts, 'register options'), 'register options', REGISTER_KEYS); // `{ guard: [...] }` guarded nothing
    for (const e of this.#entries.values()) {
      if (e.target === target) throw new InvalidArgumentError(`this object is registered already, as '${e.name}'`);
    }
    const kind = kindOf(target);
    let name = opts.name;
    // A default name skips names already taken (a caller may have chosen 'pool-1' itself).
    while (name === undefined || (opts.name === undefined && this.#entries.has(name))) name = `${kind}-${++this.#counter}`;
    if (typeof name !== 'string' || name === '') throw new InvalidArgumentError('Expected name to be a non-empty string');
    if (this.#entries.has(name)) throw new InvalidArgumentError(`the registry already has '${name}'`);
    const guards = opts.guards ?? [];
    if (!Array.isArray(guards) || !guards.every((g) => typeof g === 'string' && g !== '')) {
      throw new InvalidArgumentError('Expected guards to be an array of names (non-empty strings)');
    }
    const entry: Entry = { name, kind, target, guards: [...guards] };
    if (kind === 'breaker' && this.#protective) {
      entry.listener = () => this.#review();
      (target as CircuitBreaker).on('stateChange', entry.listener);
    }
    this.#entries.set(name, entry);
    // A breaker that is open already counts now; a pool or stage that an open breaker guards is
    // lowered now if the mode is on.
    this.#review();
    return name;
  }

  /**
   * Removes `name`; false if there was none. A pool or pipeline that protective mode lowered is
   * restored first (the registry lets go of it; a 'restored' event says so); a breaker no longer counts.
   */
  unregister(name: string): boolean {
    const e = this.#entries.get(name);
    if (!e) return false;
    if (e.listener) (e.target as CircuitBreaker).off('stateChange', e.listener);
    this.#entries.delete(name);
    // Said with a 'restored' event, as a breaker's closing is: a listener that saw it lowered
    // would otherwise take it for lowered still ('off' later names only what it restores then).
    const restored = this.#restore((_, x) => x.target === e.target);
    if (restored.pools.length + restored.stages.length > 0) {
      this.emit('protective', { state: 'restored', open: this.#open().map((b) => b.name), ...restored } satisfies ProtectiveEvent);
    }
    this.#review();
    return true;
  }

  get(name: string): Registrable | undefined {
    return this.#entries.get(name)?.target;
  }

  list(): { name: string; kind: RegisteredKind }[] {
    return [...this.#entries.values()].map(({ name, kind }) => ({ name, kind }));
  }

  /**
   * Every registered object's metrics (or state), by name. One whose `metrics()` throws (an object
   * of the caller's that refuses once closed) gets `metrics: undefined` and the `error`; the others
   * are still reported.
   */
  getGlobalMetrics(): Record<string, { kind: RegisteredKind; metrics: unknown; error?: unknown }> {
    const out: Record<string, { kind: RegisteredKind; metrics: unknown; error?: unknown }> = {};
    for (const e of this.#entries.values()) {
      const t = e.target as { metrics?: () => unknown };
      try {
        let metrics: unknown;
        if (typeof t.metrics === 'function') metrics = t.metrics();
        else if (e.kind === 'limiter') metrics = limiterFigures(e.target as Record<string, unknown>);
        out[e.name] = { kind: e.kind, metrics };
      } catch (error) {
        out[e.name] = { kind: e.kind, metrics: undefined, error };
      }
    }
    return out;
  }

  /**
   * Closes everything in dependency order: pipelines (and other users of pools) first, then pools,
   * then policies; each step waits at most `timeout` ms (default 10 000) and what did not close in
   * time is reported, not waited for. A pool that did not close in time (a task that never ends) is
   * then closed with force, so its workers are terminated and the process can exit. Each step has
   * its own `timeout`, so that pools still close gracefully after a stuck pipeline: the call takes
   * at most `timeout` for each step that has something stuck (pipelines, then pools: usually 2x).
   * For one hard deadline, race it against your own timer.
   *
   * Protective mode ends first, before anything is closed: if it is on, one `protective` event
   * `{ state: 'off', pools: [], stages: [] }` says so, restoring nothing (what it lowered is about to
   * close as it is; a restored pool would start workers only to stop them), and it stays off until
   * the call ends, whatever the breakers do meanwhile: no event names a target it has closed.
   */
  async shutdownAll(opts: { timeout?: number } = {}): Promise<ShutdownReport> {
    onlyKeys(object(opts, 'shutdownAll options'), 'shutdownAll options', SHUTDOWN_KEYS);
    const timeout = millis(opts.timeout ?? 10_000, 'shutdownAll timeout', { infinity: true });
    this.#shuttingDown++;
    try {
      this.#endProtective();
      return await this.#closeAll(timeout);
    } finally {
      this.#shuttingDown--;
    }
  }

  async #closeAll(timeout: number): Promise<ShutdownReport> {
    const report: ShutdownReport = { closed: [], timedOut: [], failed: [] };
    for (const kind of ORDER) {
      const group = [...this.#entries.values()].filter((e) => e.kind === kind);
      await Promise.all(
        group.map(async (e) => {
          const t = e.target as { close?: () => unknown; [Symbol.asyncDispose]?: () => unknown };
          const close = typeof t.close === 'function' ? () => t.close?.() : undefined;
          if (!close) {
            report.closed.push(e.name);
            this.unregister(e.name);
            return;
          }
          let timer: ReturnType<typeof setTimeout> | undefined;
          const late = new Promise<'late'>((r) => {
            // Past setTimeout's range (Infinity among them) a timer would fire at once: wait without one.
            if (timeout <= MAX_TIMER_MS) timer = setTimeout(() => r('late'), timeout);
          });
          try {
            const r = await Promise.race([Promise.resolve(close()).then(() => 'ok' as const), late]);
            if (r === 'late') {
              report.timedOut.push(e.name);
              // A graceful close waits for running tasks; one that never ends would keep the pool's
              // workers (and so the process) alive for good.
              if (e.target instanceof WorkerPool) e.target.close({ force: true }).catch(() => {});
            } else {
              report.closed.push(e.name);
              this.unregister(e.name);
            }
          } catch (error) {
            report.failed.push({ name: e.name, error });
          } finally {
            clearTimeout(timer);
          }
        }),
      );
    }
    return report;
  }

  /**
   * Protective mode: turns on when enough breakers are open, off when fewer are. While it is on,
   * whatever an open breaker guards is lowered (once: a breaker that opens later, a target
   * registered later: a 'lowered' event), and what no open breaker guards any more is restored (a
   * 'restored' event); turning off restores everything still lowered.
   */
  #review(): void {
    const p = this.#protective;
    if (!p || this.#shuttingDown > 0) return;
    const openEntries = this.#open();
    const open = openEntries.map((e) => e.name);
    if (!this.#active) {
      if (open.length < p.openBreakers) return;
      this.#active = { pools: new Map(), stages: new Map() };
      const lowered = this.#lower(openEntries, p.keep);
      this.#poll = setInterval(() => this.#review(), 250);
      this.#poll.unref();
      this.emit('protective', { state: 'on', open, ...lowered } satisfies ProtectiveEvent);
    } else if (open.length < p.openBreakers) {
      // Everything still lowered comes back: as if no breaker guarded anything any more.
      const restored = this.#restoreUnguarded([]);
      this.#active = undefined;
      clearInterval(this.#poll);
      this.#poll = undefined;
      this.emit('protective', { state: 'off', open, ...restored } satisfies ProtectiveEvent);
    } else {
      const lowered = this.#lower(openEntries, p.keep);
      if (lowered.pools.length + lowered.stages.length > 0) {
        this.emit('protective', { state: 'lowered', open, ...lowered } satisfies ProtectiveEvent);
      }
      const restored = this.#restoreUnguarded(openEntries);
      if (restored.pools.length + restored.stages.length > 0) {
        this.emit('protective', { state: 'restored', open, ...restored } satisfies ProtectiveEvent);
      }
    }
  }

  /**
   * Turns protective mode off for shutdownAll without restoring what it lowered (all of it is about
   * to close): an 'off' event with no changes, if it was on.
   */
  #endProtective(): void {
    if (!this.#active) return;
    this.#active = undefined;
    clearInterval(this.#poll);
    this.#poll = undefined;
    this.emit('protective', { state: 'off', open: this.#open().map((e) => e.name), pools: [], stages: [] } satisfies ProtectiveEvent);
  }

  /** The registered breakers open now. */
  #open(): Entry[] {
    return [...this.#entries.values()].filter((e) => e.kind === 'breaker' && isOpen((e.target as CircuitBreaker).state));
  }

  /** Lowers what `open` breakers guard that the mode has not lowered yet; returns those changes. */
  #lower(open: Entry[], keep: number): { pools: Change[]; stages: Change[] } {
    const done: { pools: Change[]; stages: Change[] } = { pools: [], stages: [] };
    const a = this.#active;
    if (!a) return done;
    for (const name of new Set(open.flatMap((e) => e.guards))) {
      if (a.pools.has(name) || a.stages.has(name)) continue;
      const target = this.#entries.get(name)?.target;
      if (target instanceof WorkerPool) {
        const x = lowerPool(name, target, keep);
        a.pools.set(name, x);
        done.pools.push({ ...x.change });
        continue;
      }
      const stage = this.#stageOf(name);
      if (stage) {
        const x = lowerStage(name, stage.pipeline, stage.stage, keep);
        a.stages.set(name, x);
        done.stages.push({ ...x.change });
      }
    }
    return done;
  }

  /** Restores what the mode lowered that no open breaker guards any more (its breakers closed). */
  #restoreUnguarded(open: Entry[]): { pools: Change[]; stages: Change[] } {
    const guarded = new Set(open.flatMap((e) => e.guards));
    return this.#restore((name) => !guarded.has(name));
  }

  /** Restores what the mode lowered that `pick` chooses; returns those changes. */
  #restore(pick: (name: string, x: Lowered) => boolean): { pools: Change[]; stages: Change[] } {
    const back = (lowered: Map<string, Lowered>): Change[] => {
      const changes: Change[] = [];
      for (const [name, x] of lowered) {
        if (!pick(name, x)) continue;
        lowered.delete(name);
        const from = x.current();
        changes.push({ name, from, to: x.restore() });
      }
      return changes;
    };
    const a = this.#active;
    return a ? { pools: back(a.pools), stages: back(a.stages) } : { pools: [], stages: [] };
  }

  /**
   * `'<pipeline>/<stage>'` of a registered pipeline that has that stage. Either name may hold a
   * slash itself ('etl/v2/parse'): each split is tried, the first that names a pipeline's stage wins.
   */
  #stageOf(name: string): { pipeline: Pipeline<never, unknown>; stage: string } | undefined {
    for (let slash = name.indexOf('/'); slash >= 0; slash = name.indexOf('/', slash + 1)) {
      const pipeline = this.#entries.get(name.slice(0, slash))?.target;
      const stage = name.slice(slash + 1);
      if (!(pipeline instanceof Pipeline)) continue;
      try {
        pipeline.stageConcurrency(stage);
      } catch {
        continue;
      }
      return { pipeline: pipeline as Pipeline<never, unknown>, stage };
    }
    return undefined;
  }
}
