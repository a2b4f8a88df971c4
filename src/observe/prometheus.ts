/**
 * Prometheus metrics of skein's objects, rendered by prom-client (an optional peer dependency,
 * loaded only when asked for). Every figure is read at scrape time from the objects' own
 * `metrics()` (which read the shared counters and histograms), so nothing is recorded twice.
 *
 * | metric | type | labels |
 * |---|---|---|
 * | skein_pool_workers, skein_pool_busy_workers, skein_pool_queued_tasks, skein_pool_inflight_tasks, skein_pool_utilization | gauge | pool |
 * | skein_pool_tasks_completed_total, skein_pool_tasks_failed_total | counter | pool |
 * | skein_pool_task_wait_seconds, skein_pool_task_run_seconds | summary (0.5, 0.9, 0.99) | pool |
 * | skein_breaker_state | gauge (1 for the current state) | breaker, state |
 * | skein_breaker_calls_total | counter | breaker, outcome (success, failure, rejected, ignored) |
 * | skein_breaker_failure_rate | gauge | breaker |
 * | skein_limiter_available | gauge (TokenBucket tokens) | limiter |
 * | skein_manager_in_use, skein_manager_queued, skein_manager_available | gauge | manager |
 * | skein_manager_permits_total | counter | manager, outcome (acquired, rejected, timed_out, aborted) |
 * | skein_manager_wait_seconds | summary | manager |
 * | skein_latency_seconds | histogram (one bucket per doubling) | name (a SharedHistogram) |
 */
import { createRequire } from 'node:module';
import type { HistogramSummary } from '../memory/histogram.js';
import { SharedHistogram } from '../memory/histogram.js';
import { WorkerPool } from '../pool/index.js';
import { CircuitBreaker, ConcurrencyManager, LeakyBucket, SlidingWindowLimiter, TokenBucket } from '../resilience/index.js';
import { MissingPeerDependencyError } from './errors.js';

type PromClient = typeof import('prom-client');
type Labels = Record<string, string>;
interface Value {
  value: number;
  labels: Labels;
  metricName?: string;
}
type Kind = 'gauge' | 'counter' | 'summary' | 'histogram';

/** Objects whose metrics are exported, by the name their label carries. */
export type Observed = Record<string, unknown>;

const require = createRequire(import.meta.url);

/** prom-client, or a MissingPeerDependencyError saying how to install it. */
function loadPromClient(): PromClient {
  try {
    return require('prom-client') as PromClient;
  } catch (err) {
    if ((err as { code?: string }).code !== 'MODULE_NOT_FOUND') throw err;
    throw new MissingPeerDependencyError(
      'Prometheus metrics need the optional peer dependency prom-client: run `npm install prom-client`',
      { cause: err },
    );
  }
}

function summaryValues(name: string, labels: Labels, s: HistogramSummary): Value[] {
  return [
    { metricName: name, labels: { ...labels, quantile: '0.5' }, value: s.p50 / 1000 },
    { metricName: name, labels: { ...labels, quantile: '0.9' }, value: s.p90 / 1000 },
    { metricName: name, labels: { ...labels, quantile: '0.99' }, value: s.p99 / 1000 },
    { metricName: `${name}_sum`, labels, value: (s.mean * s.count) / 1000 },
    { metricName: `${name}_count`, labels, value: s.count },
  ];
}

/**
 * Bucket i of a SharedHistogram holds values above 2^((i-1)/4) µs and at most 2^(i/4) µs (bucket 0:
 * at most 1 µs), so the running sum up to bucket i is the count of samples <= 2^(i/4) µs: what
 * Prometheus means by `le`. Buckets are summed per doubling.
 */
function histogramValues(name: string, labels: Labels, h: SharedHistogram): Value[] {
  const acc = new Float64Array(128);
  h.addTo(acc);
  const out: Value[] = [];
  let cum = 0;
  let sum = 0;
  for (let i = 0; i < 126; i++) {
    cum += acc[i];
    sum += acc[i] * (i === 0 ? 0.5 : 2 ** ((i - 0.5) / 4));
    // The upper edge of bucket i (inclusive) is 2^(i/4) µs; emit one `le` per doubling (every 4th bucket).
    if (i % 4 === 0 && i > 0 && i <= 100)
      out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: String(2 ** (i / 4) / 1e6) }, value: cum });
  }
  // +Inf and _count are the buckets' total, not the histogram's count word: record() bumps a bucket
  // before the count, so a scrape between the two read a finite bucket above +Inf.
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cum });
  out.push({ metricName: `${name}_sum`, labels, value: sum / 1e6 });
  out.push({ metricName: `${name}_count`, labels, value: cum });
  return out;
}

/** The values of every metric for the objects now observed, grouped by metric name. */
function collect(objects: Observed): Map<string, Value[]> {
  const m = new Map<string, Value[]>();
  const add = (metric: string, v: Value | Value[]): void => {
    const list = m.get(metric) ?? [];
    if (Array.isArray(v)) list.push(...v);
    else list.push(v);
    m.set(metric, list);
  };
  for (const [name, o] of Object.entries(objects)) {
    if (o instanceof WorkerPool) {
      const p = o.metrics();
      const l = { pool: name };
      add('skein_pool_workers', { labels: l, value: p.workers });
      add('skein_pool_busy_workers', { labels: l, value: p.busy });
      add('skein_pool_queued_tasks', { labels: l, value: p.queued });
      add('skein_pool_inflight_tasks', { labels: l, value: p.inFlight });
      add('skein_pool_utilization', { labels: l, value: p.utilization });
      add('skein_pool_tasks_completed_total', { labels: l, value: p.completed });
      add('skein_pool_tasks_failed_total', { labels: l, value: p.failed });
      add('skein_pool_task_wait_seconds', summaryValues('skein_pool_task_wait_seconds', l, p.waitTime));
      add('skein_pool_task_run_seconds', summaryValues('skein_pool_task_run_seconds', l, p.runTime));
    } else if (o instanceof CircuitBreaker) {
      const b = o.metrics();
      for (const s of ['closed', 'open', 'half-open', 'forced-open', 'forced-closed'])
        add('skein_breaker_state', { labels: { breaker: name, state: s }, value: b.state === s ? 1 : 0 });
      const outcomes: [string, number][] = [
        ['success', b.successes],
        ['failure', b.failures],
        ['rejected', b.rejected],
        ['ignored', b.ignored],
      ];
      for (const [outcome, value] of outcomes) add('skein_breaker_calls_total', { labels: { breaker: name, outcome }, value });
      add('skein_breaker_failure_rate', { labels: { breaker: name }, value: b.failureRate });
    } else if (o instanceof TokenBucket) {
      add('skein_limiter_available', { labels: { limiter: name }, value: o.available });
    } else if (o instanceof ConcurrencyManager) {
      const c = o.metrics();
      const l = { manager: name };
      add('skein_manager_in_use', { labels: l, value: c.inUse });
      add('skein_manager_queued', { labels: l, value: c.queued });
      add('skein_manager_available', { labels: l, value: c.available });
      const outcomes: [string, number][] = [
        ['acquired', c.acquired],
        ['rejected', c.rejected],
        ['timed_out', c.timedOut],
        ['aborted', c.aborted],
      ];
      for (const [outcome, value] of outcomes) add('skein_manager_permits_total', { labels: { ...l, outcome }, value });
      add('skein_manager_wait_seconds', summaryValues('skein_manager_wait_seconds', l, c.wait));
    } else if (o instanceof SharedHistogram) {
      add('skein_latency_seconds', histogramValues('skein_latency_seconds', { name }, o));
    } else if (o instanceof LeakyBucket || o instanceof SlidingWindowLimiter) {
      // No level to read without taking a permit: listed so /health names them, no samples.
    }
  }
  return m;
}

const HELP: Record<string, [Kind, string]> = {
  skein_pool_workers: ['gauge', 'Worker threads alive'],
  skein_pool_busy_workers: ['gauge', 'Workers running at least one task'],
  skein_pool_queued_tasks: ['gauge', 'Tasks waiting to start'],
  skein_pool_inflight_tasks: ['gauge', 'Tasks handed to workers and not yet settled'],
  skein_pool_utilization: ['gauge', 'Share of worker time spent running tasks since the pool started'],
  skein_pool_tasks_completed_total: ['counter', 'Tasks that returned a value'],
  skein_pool_tasks_failed_total: ['counter', 'Tasks that failed'],
  skein_pool_task_wait_seconds: ['summary', 'From submit to start, recorded by the workers'],
  skein_pool_task_run_seconds: ['summary', 'From start to end, recorded by the workers'],
  skein_breaker_state: ['gauge', 'Circuit breaker state (1 for the current one)'],
  skein_breaker_calls_total: ['counter', 'Calls through the breaker, by outcome, all threads'],
  skein_breaker_failure_rate: ['gauge', 'Failures over calls in the breaker window'],
  skein_limiter_available: ['gauge', 'Tokens available now'],
  skein_manager_in_use: ['gauge', 'Permits held'],
  skein_manager_queued: ['gauge', 'Callers waiting for a permit'],
  skein_manager_available: ['gauge', 'Permits free'],
  skein_manager_permits_total: ['counter', 'Permit requests by outcome'],
  skein_manager_wait_seconds: ['summary', 'From acquire to grant'],
  skein_latency_seconds: ['histogram', 'Latency recorded in a shared histogram'],
};

/**
 * The part of a prom-client `Registry` skein's declarations name: prom-client is an optional peer,
 * so its own types must not be needed to typecheck skein's (a consumer without it, with
 * skipLibCheck: false, would fail on them). Cast to prom-client's `Registry` for the rest.
 */
export interface PrometheusRegistry {
  metrics(): Promise<string>;
  readonly contentType: string;
  registerMetric(metric: unknown): void;
}

/** A prom-client Registry over skein's objects, and how to render it. */
export interface PrometheusExport {
  registry: PrometheusRegistry;
  /** The exposition text, every object read once, at this moment. */
  metrics(): Promise<string>;
  contentType: string;
}

/**
 * A prom-client Registry whose metrics read `objects` (or what `objects()` returns) at each
 * scrape. Throws MissingPeerDependencyError without prom-client.
 *
 * @example
 * ```ts
 * const prom = createPrometheusExport({ hash: pool, upstream: breaker });
 * res.end(await prom.metrics());
 * ```
 */
export function createPrometheusExport(objects: Observed | (() => Observed)): PrometheusExport {
  const prom = loadPromClient();
  const registry = new prom.Registry();
  // One reading of the objects per scrape: a Registry asks every metric's get() in one synchronous
  // pass (metrics(), getMetricsAsJSON()), so the first get() of a pass reads and the reading is
  // dropped once the pass is over. (It was dropped only by this export's own metrics(): a scrape of
  // the exposed `registry`, or of a Registry.merge() of it, kept its first reading forever.)
  let snapshot: Map<string, Value[]> | undefined;
  const read = (): Observed => (typeof objects === 'function' ? objects() : objects);
  const current = (): Map<string, Value[]> => {
    if (snapshot === undefined) {
      snapshot = collect(read());
      queueMicrotask(() => (snapshot = undefined));
    }
    return snapshot;
  };
  for (const [name, [type, help]] of Object.entries(HELP)) {
    registry.registerMetric({
      name,
      help,
      type,
      get: () => ({ name, help, type, values: current().get(name) ?? [], aggregator: 'sum' }),
      // Registry.resetMetrics() (of this registry or of a merge of it) calls every metric's reset():
      // it threw a TypeError here. The figures are the objects' own, read at each scrape: nothing to reset.
      reset: () => {},
    } as unknown as Parameters<typeof registry.registerMetric>[0]);
  }
  return {
    registry,
    contentType: registry.contentType,
    metrics: () => registry.metrics(),
  };
}
