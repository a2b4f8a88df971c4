// serveMetrics: /metrics is Prometheus text (parsed by a parser, checked line by line against the
// exposition grammar), /health is JSON, and the server binds to loopback unless told otherwise.
import diagnostics from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import {
  AbortError,
  CircuitBreaker,
  ConcurrencyManager,
  DynamicWorkerPool,
  FixedWorkerPool,
  InvalidArgumentError,
  serveMetrics,
  TokenBucket,
  WorkerBootError,
  WorkerModuleError,
  WorkerSetupError,
} from 'skein';
import { CHANNELS, SharedHistogram, tracePool, type TaskEndMessage, type TaskStartMessage } from 'skein/internal';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejection, sharedCounters, TASKS, until, within } from '../fixtures/pool-helpers.js';

interface Family {
  name: string;
  help: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; quantiles?: Record<string, string>; count?: string; sum?: string }[];
}
const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[];

// Text format 0.0.4: a sample line is  name{label="value",...} number
const SAMPLE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$/;
const COMMENT = /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$/;

describe('serveMetrics', () => {
  const pool = new FixedWorkerPool(2, { filename: TASKS });
  const breaker = new CircuitBreaker({ failureThreshold: 2, resetTimeout: 60_000 });
  const bucket = new TokenBucket({ capacity: 10, refillPerSecond: 0.001 });
  const manager = new ConcurrencyManager({ maxConcurrency: 3 });
  const hist = new SharedHistogram();
  let server: Awaited<ReturnType<typeof serveMetrics>>;

  beforeAll(async () => {
    server = await serveMetrics({ port: 0, objects: { hash: pool, upstream: breaker, api: bucket, db: manager, stage: hist } });
    await pool.submitBatch([1, 2, 3, 4], { fn: 'double' });
    await pool.submit('x', { fn: 'hash' });
    await expect(pool.submit(null, { fn: 'nope' })).rejects.toThrow();
    for (let i = 0; i < 2; i++) await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {});
    bucket.tryAcquire(3);
    const permit = await manager.acquire({ priority: 5 });
    permit.release();
    for (const ms of [0.5, 2, 2, 40]) hist.record(ms);
  });
  afterAll(async () => {
    await server.close();
    await pool.close();
  });

  it('binds to 127.0.0.1 by default', () => {
    expect(server.host).toBe('127.0.0.1');
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
  });

  it('serves /metrics as valid Prometheus text with pools, breakers, limiters, managers and histograms', async () => {
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    for (const line of text.split('\n').filter((l) => l !== '')) {
      expect(SAMPLE.test(line) || COMMENT.test(line), `not exposition format: ${line}`).toBe(true);
    }
    const families = new Map(parsePrometheus(text).map((f) => [f.name, f]));
    const one = (name: string, labels: Record<string, string>): number => {
      const f = families.get(name);
      expect(f, name).toBeDefined();
      const m = f!.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
      expect(m, `${name} ${JSON.stringify(labels)}`).toBeDefined();
      return Number(m!.value);
    };
    expect(one('skein_pool_workers', { pool: 'hash' })).toBe(2);
    expect(one('skein_pool_tasks_completed_total', { pool: 'hash' })).toBe(5);
    expect(one('skein_pool_tasks_failed_total', { pool: 'hash' })).toBe(1);
    expect(families.get('skein_pool_task_run_seconds')!.type).toBe('SUMMARY');
    // (this parser keeps a labelled summary's quantiles but drops its _sum and _count)
    expect(Object.keys(families.get('skein_pool_task_run_seconds')!.metrics[0].quantiles!)).toEqual(['0.5', '0.9', '0.99']);
    const runCount = text.split('\n').find((l) => l.startsWith('skein_pool_task_run_seconds_count{pool="hash"}'));
    expect(Number(runCount?.split(' ')[1])).toBe(6);
    expect(one('skein_breaker_state', { breaker: 'upstream', state: 'open' })).toBe(1);
    expect(one('skein_breaker_state', { breaker: 'upstream', state: 'closed' })).toBe(0);
    expect(one('skein_breaker_calls_total', { breaker: 'upstream', outcome: 'failure' })).toBe(2);
    expect(one('skein_limiter_available', { limiter: 'api' })).toBeCloseTo(7, 0);
    expect(one('skein_manager_permits_total', { manager: 'db', outcome: 'acquired' })).toBe(1);
    const h = families.get('skein_latency_seconds')!;
    expect(h.type).toBe('HISTOGRAM');
    const m = h.metrics[0];
    expect(Number(m.buckets!['+Inf'])).toBe(4);
    // Buckets are cumulative: 0.5 ms and both 2 ms samples lie below 4.1 ms, the 40 ms one does not.
    expect(Number(m.buckets![String(2 ** 12 / 1e6)])).toBe(3);
  });

  it('serves /health: degraded (503) while a breaker is open, naming it', async () => {
    const res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { status: string; problems: string[]; pools: Record<string, unknown> };
    expect(body.status).toBe('degraded');
    expect(body.problems).toEqual(['breaker upstream: open']);
    expect(body.pools.hash).toEqual({ workers: 2, healthy: 2, state: 'open' });
    breaker.forceClose();
    const ok = await fetch(`${server.url}/health`);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { status: string }).status).toBe('ok');
  });

  it('serves /health: a pool that is closing or closed is never healthy (503, named, its state given)', async () => {
    // A closed pool has no workers left, and "no workers" alone read as nothing wrong: it was 200 ok.
    const p = new FixedWorkerPool(1, { filename: TASKS });
    const s = await serveMetrics({ port: 0, objects: { p } });
    type Body = { status: string; problems: string[]; pools: Record<string, { workers: number; healthy: number; state: string }> };
    const read = async (): Promise<[number, Body]> => {
      const res = await fetch(`${s.url}/health`);
      return [res.status, (await res.json()) as Body];
    };
    try {
      const [okStatus, ok] = await read();
      expect(okStatus).toBe(200);
      // Runs until aborted, so the pool stays closing while /health is read, however slow that is.
      const stop = new AbortController();
      const running = p.submit(60_000, { fn: 'sleep', signal: stop.signal });
      running.catch(() => {}); // awaited below
      const closed = p.close(); // a graceful close waits for the running task
      const [closingStatus, closing] = await read();
      stop.abort();
      await expect(running).rejects.toThrow(AbortError);
      await closed;
      const [goneStatus, gone] = await read();
      expect([closingStatus, closing.status, closing.problems]).toEqual([503, 'degraded', ['pool p: closing']]);
      expect([goneStatus, gone.status, gone.problems]).toEqual([503, 'degraded', ['pool p: closed']]);
      expect(ok.pools.p).toEqual({ workers: 1, healthy: 1, state: 'open' });
      expect(closing.pools.p).toEqual({ workers: 1, healthy: 1, state: 'closing' });
      expect(gone.pools.p).toEqual({ workers: 0, healthy: 0, state: 'closed' });
    } finally {
      await s.close();
      await p.close();
    }
  });

  it('serves /health: a pool whose workers cannot start (broken) is never healthy (503, named, its state given)', async () => {
    // Such a pool rejects every task and starts no worker again; once its workers had exited it had
    // none, and "no workers" alone read as nothing wrong: it was 200 ok, state 'open'.
    const fixture = (name: string): URL => new URL(`../fixtures/${name}`, import.meta.url);
    const load = new FixedWorkerPool(1, { filename: fixture('pool-bad-load.mjs') });
    const setup = new DynamicWorkerPool({ filename: fixture('pool-setup-fail.mjs'), maxWorkers: 1, workerData: { counters: sharedCounters(1) } });
    const exit = new DynamicWorkerPool({ filename: fixture('pool-boot-exit.mjs'), maxWorkers: 1 });
    const pools = { load, setup, exit };
    const s = await serveMetrics({ port: 0, objects: pools });
    type Body = { status: string; problems: string[]; pools: Record<string, { workers: number; healthy: number; state: string }> };
    const read = async (): Promise<[number, Body]> => {
      const res = await fetch(`${s.url}/health`);
      return [res.status, (await res.json()) as Body];
    };
    try {
      expect(await rejection(load.submit(1))).toBeInstanceOf(WorkerModuleError);
      expect(await rejection(setup.submit(1))).toBeInstanceOf(WorkerSetupError);
      expect(await within(rejection(exit.submit(1)), 20_000, 'the exit pool\'s task')).toBeInstanceOf(WorkerBootError);
      // Its workers gone, a broken pool looks like an idle one but for its state.
      await until(() => Object.values(pools).every((p) => p.getWorkerCount() === 0), 5000, 'the workers to exit');
      const [status, body] = await read();
      expect([status, body.status, body.problems]).toEqual([503, 'degraded', ['pool load: broken', 'pool setup: broken', 'pool exit: broken']]);
      for (const name of Object.keys(pools)) expect(body.pools[name]).toEqual({ workers: 0, healthy: 0, state: 'broken' });
      // Closed, it is reported as closed.
      await within(load.close(), 5000, 'close');
      const [, after] = await read();
      expect(after.pools.load.state).toBe('closed');
      expect(after.problems).toContain('pool load: closed');
    } finally {
      await s.close();
      await Promise.all(Object.values(pools).map((p) => within(p.close({ force: true }), 5000, 'force close')));
    }
  });

  it('refuses a bad port, host or objects with InvalidArgumentError naming it, before listening', async () => {
    // A port out of range was node:http's bare RangeError (ERR_SOCKET_BAD_PORT), unlike every other
    // bad option in skein.
    for (const port of [-1, 65536, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '9464']) {
      const p = serveMetrics({ port: port as number });
      await expect(p, String(port)).rejects.toThrow(InvalidArgumentError);
      await expect(p, String(port)).rejects.toThrow(/^Expected serveMetrics port to be an integer/);
    }
    await expect(serveMetrics({ port: -1 })).rejects.toThrow('Expected serveMetrics port to be an integer >= 0, got -1');
    await expect(serveMetrics({ port: 70000 })).rejects.toThrow('Expected serveMetrics port to be an integer <= 65535, got 70000');
    for (const host of [42, '', null]) {
      await expect(serveMetrics({ port: 0, host: host as string })).rejects.toThrow(/^Expected serveMetrics host to be a non-empty string/);
    }
    for (const objects of [null, 5, 'pool']) {
      await expect(serveMetrics({ port: 0, objects: objects as never })).rejects.toThrow(
        /^Expected serveMetrics objects to be an object or a function/,
      );
    }
    await expect(serveMetrics(null as never)).rejects.toThrow(InvalidArgumentError);
  });

  it('binds where told', async () => {
    const all = await serveMetrics({ port: 0, host: '0.0.0.0' });
    try {
      expect(all.host).toBe('0.0.0.0');
      expect((await fetch(`http://127.0.0.1:${all.port}/nothing`)).status).toBe(404);
    } finally {
      await all.close();
    }
  });
});

describe('diagnostics channels', () => {
  it('publish task start and end for a traced pool, and breaker state changes', async () => {
    const pool = tracePool(new FixedWorkerPool(1, { filename: TASKS }), 'p');
    const starts: TaskStartMessage[] = [];
    const ends: TaskEndMessage[] = [];
    const states: unknown[] = [];
    const onStart = (m: unknown): void => void starts.push(m as TaskStartMessage);
    const onEnd = (m: unknown): void => void ends.push(m as TaskEndMessage);
    const onState = (m: unknown): void => void states.push(m);
    diagnostics.subscribe(CHANNELS.taskStart, onStart);
    diagnostics.subscribe(CHANNELS.taskEnd, onEnd);
    diagnostics.subscribe(CHANNELS.breakerState, onState);
    const breaker = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 60_000 });
    const server = await serveMetrics({ port: 0, objects: { b: breaker } }); // traces the breaker
    try {
      expect(await pool.submit(21, { fn: 'double' })).toBe(42);
      await expect(pool.submit(0, { fn: 'nope' })).rejects.toThrow();
      await pool.submitBatch([1, 2, 3]);
      expect(starts.map((s) => [s.pool, s.fn, s.count])).toEqual([
        ['p', 'double', undefined],
        ['p', 'nope', undefined],
        ['p', 'default', 3],
      ]);
      expect(ends.map((e) => [e.id, e.ok])).toEqual(starts.map((s, i) => [s.id, i !== 1]));
      expect(ends.every((e) => e.durationMs >= 0)).toBe(true);
      await breaker.execute(() => Promise.reject(new Error('x'))).catch(() => {});
      expect(states).toEqual([{ breaker: 'b', from: 'closed', to: 'open' }]);
    } finally {
      diagnostics.unsubscribe(CHANNELS.taskStart, onStart);
      diagnostics.unsubscribe(CHANNELS.taskEnd, onEnd);
      diagnostics.unsubscribe(CHANNELS.breakerState, onState);
      await server.close();
      await pool.close();
    }
  });
});
