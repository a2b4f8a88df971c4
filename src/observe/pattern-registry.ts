/**
 * `PatternRegistry`: one place that knows a program's pools, pipelines, breakers, limiters and
 * managers by name, reports their metrics together, shuts them down in dependency order, and (in
 * protective mode) shrinks the pools and lowers the pipeline stages that open breakers guard, to
 * stop a failure from cascading.
 */
import { EventEmitter } from 'node:events';
import { InvalidArgumentError } from '../memory/errors.js';
import { Pipeline } from '../flow/index.js';
import { WorkerPool } from '../pool/index.js';
import { CircuitBreaker, ConcurrencyManager } from '../resilience/index.js';

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

/**
 * Protective mode: when `openBreakers` registered breakers are open at once, the pools they guard
 * shrink and the pipeline stages they guard run fewer items at once, until fewer are open.
 */
export interface ProtectiveOptions {
  /** How many open breakers at once turn it on. */
  openBreakers: number;
  /** Fraction of its workers (a pool) or of its concurrency (a stage) kept while it is on (at least one). Default 0.5. */
  keep?: number;
}

/** A `protective` event: the mode turned on or off, and what it changed. */
export interface ProtectiveEvent {
  state: 'on' | 'off';
  /** Names of the breakers open when it happened. */
  open: string[];
  /** Per guarded pool: workers before and after. */
  pools: { name: string; from: number; to: number }[];
  /** Per guarded pipeline stage (`'<pipeline>/<stage>'`): its concurrency before and after. */
  stages: { name: string; from: number; to: number }[];
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

const ORDER: RegisteredKind[] = ['pipeline', 'other', 'pool', 'manager', 'breaker', 'limiter'];

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
  #active: { pools: { name: string; from: number; to: number }[]; stages: { name: string; from: number; to: number }[] } | undefined;
  /** While on, breakers are also looked at every 250 ms: a listener may miss a transition. */
  #poll: ReturnType<typeof setInterval> | undefined;

  constructor(opts: { protective?: ProtectiveOptions } = {}) {
    super();
    const p = opts.protective;
    if (p !== undefined) {
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
    const kind = kindOf(target);
    const name = opts.name ?? `${kind}-${++this.#counter}`;
    if (typeof name !== 'string' || name === '') throw new InvalidArgumentError('Expected name to be a non-empty string');
    if (this.#entries.has(name)) throw new InvalidArgumentError(`the registry already has '${name}'`);
    const entry: Entry = { name, kind, target, guards: opts.guards ?? [] };
    if (kind === 'breaker' && this.#protective) {
      entry.listener = () => this.#review();
      (target as CircuitBreaker).on('stateChange', entry.listener);
    }
    this.#entries.set(name, entry);
    return name;
  }

  /** Removes `name`; false if there was none. */
  unregister(name: string): boolean {
    const e = this.#entries.get(name);
    if (!e) return false;
    if (e.listener) (e.target as CircuitBreaker).off('stateChange', e.listener);
    this.#entries.delete(name);
    return true;
  }

  get(name: string): Registrable | undefined {
    return this.#entries.get(name)?.target;
  }

  list(): { name: string; kind: RegisteredKind }[] {
    return [...this.#entries.values()].map(({ name, kind }) => ({ name, kind }));
  }

  /** Every registered object's metrics (or state), by name. */
  getGlobalMetrics(): Record<string, { kind: RegisteredKind; metrics: unknown }> {
    const out: Record<string, { kind: RegisteredKind; metrics: unknown }> = {};
    for (const e of this.#entries.values()) {
      const t = e.target as { metrics?: () => unknown; available?: number; state?: unknown };
      let metrics: unknown;
      if (typeof t.metrics === 'function') metrics = t.metrics();
      else if (e.kind === 'limiter') metrics = { available: t.available };
      out[e.name] = { kind: e.kind, metrics };
    }
    return out;
  }

  /**
   * Closes everything in dependency order: pipelines (and other users of pools) first, then pools,
   * then policies; each step waits at most `timeout` ms (default 10 000) and what did not close in
   * time is reported, not waited for.
   */
  async shutdownAll(opts: { timeout?: number } = {}): Promise<ShutdownReport> {
    const timeout = opts.timeout ?? 10_000;
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
            timer = setTimeout(() => r('late'), timeout);
          });
          try {
            const r = await Promise.race([Promise.resolve(close()).then(() => 'ok' as const), late]);
            if (r === 'late') report.timedOut.push(e.name);
            else {
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

  /** Protective mode: turns on when enough breakers are open, off when fewer are. */
  #review(): void {
    const p = this.#protective;
    if (!p) return;
    const breakers = [...this.#entries.values()].filter((e) => e.kind === 'breaker');
    const open = breakers.filter((e) => ['open', 'half-open', 'forced-open'].includes((e.target as CircuitBreaker).state)).map((e) => e.name);
    if (!this.#active && open.length >= p.openBreakers) {
      const guarded = new Set(breakers.filter((e) => open.includes(e.name)).flatMap((e) => e.guards));
      const pools: { name: string; from: number; to: number }[] = [];
      const stages: { name: string; from: number; to: number }[] = [];
      for (const name of guarded) {
        const pool = this.#entries.get(name)?.target;
        if (pool instanceof WorkerPool) {
          const from = pool.getWorkerCount();
          const to = Math.max(1, Math.floor(from * p.keep));
          if (to < from) pool.scaleDown(from - to);
          pools.push({ name, from, to });
          continue;
        }
        const stage = this.#stageOf(name);
        if (stage) {
          const from = stage.pipeline.stageConcurrency(stage.stage).current;
          const to = Math.max(1, Math.floor(from * p.keep));
          stage.pipeline.setStageConcurrency(stage.stage, to);
          stages.push({ name, from, to });
        }
      }
      this.#active = { pools, stages };
      this.#poll = setInterval(() => this.#review(), 250);
      this.#poll.unref();
      this.emit('protective', { state: 'on', open, pools, stages } satisfies ProtectiveEvent);
    } else if (this.#active && open.length < p.openBreakers) {
      const back = (xs: { name: string; from: number; to: number }[]): { name: string; from: number; to: number }[] =>
        xs.map((x) => ({ name: x.name, from: x.to, to: x.from }));
      const pools = back(this.#active.pools);
      const stages = back(this.#active.stages);
      for (const x of pools) {
        const pool = this.#entries.get(x.name)?.target;
        if (pool instanceof WorkerPool && x.to > x.from) pool.scaleUp(x.to - x.from);
      }
      for (const x of stages) {
        const stage = this.#stageOf(x.name);
        stage?.pipeline.setStageConcurrency(stage.stage, x.to);
      }
      this.#active = undefined;
      clearInterval(this.#poll);
      this.#poll = undefined;
      this.emit('protective', { state: 'off', open, pools, stages } satisfies ProtectiveEvent);
    }
  }

  /** `'<pipeline>/<stage>'` of a registered pipeline that has that stage. */
  #stageOf(name: string): { pipeline: Pipeline<never, unknown>; stage: string } | undefined {
    const slash = name.indexOf('/');
    if (slash < 0) return undefined;
    const pipeline = this.#entries.get(name.slice(0, slash))?.target;
    const stage = name.slice(slash + 1);
    if (!(pipeline instanceof Pipeline)) return undefined;
    try {
      pipeline.stageConcurrency(stage);
    } catch {
      return undefined;
    }
    return { pipeline: pipeline as Pipeline<never, unknown>, stage };
  }
}
