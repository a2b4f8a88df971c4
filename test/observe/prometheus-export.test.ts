// createPrometheusExport and serveMetrics as a Prometheus scraper sees them: every scrape reads the
// objects afresh (through the export or its exposed registry), a histogram family stays cumulative
// with _count equal to its +Inf bucket even while threads are recording, and /health never takes
// the process down.
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { Worker } from 'node:worker_threads';
import { CircuitBreaker, serveMetrics, TokenBucket } from 'skein';
import { createPrometheusExport, SharedHistogram } from 'skein/internal';
import { describe, expect, it } from 'vitest';

interface Family {
  name: string;
  metrics: { labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string }[];
}
const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[];

/** Every `skein_latency_seconds` sample of one histogram, by line. */
function latency(text: string, name: string): { le: [string, number][]; count: number } {
  const le: [string, number][] = [];
  let count = Number.NaN;
  for (const line of text.split('\n')) {
    const b = /^skein_latency_seconds_bucket\{name="(.*)",le="([^"]+)"\} (\S+)$/.exec(line);
    if (b && b[1] === name) le.push([b[2], Number(b[3])]);
    const c = /^skein_latency_seconds_count\{name="(.*)"\} (\S+)$/.exec(line);
    if (c && c[1] === name) count = Number(c[2]);
  }
  return { le, count };
}

describe('createPrometheusExport', () => {
  it('its registry, scraped directly, reads the objects at each scrape (not once, forever)', async () => {
    const h = new SharedHistogram();
    const prom = createPrometheusExport({ h });
    h.record(1);
    expect(latency(await prom.registry.metrics(), 'h').count).toBe(1);
    h.record(1);
    h.record(2);
    expect(latency(await prom.registry.metrics(), 'h').count).toBe(3);
    expect(latency(await prom.metrics(), 'h').count).toBe(3);
    h.record(3);
    expect(latency(await prom.registry.metrics(), 'h').count).toBe(4);
  });

  it('a scrape reads each object once: every family of one scrape sees the same moment', async () => {
    let reads = 0;
    const h = new SharedHistogram();
    const prom = createPrometheusExport(() => (reads++, { h }));
    await prom.metrics();
    expect(reads).toBe(1);
    await prom.registry.metrics();
    expect(reads).toBe(2);
    // Scrapes started in the same tick may share a reading; none reads more than once.
    await Promise.all([prom.metrics(), prom.metrics(), prom.registry.metrics()]);
    expect(reads).toBeGreaterThanOrEqual(3);
    expect(reads).toBeLessThanOrEqual(5);
    const after = reads;
    await prom.registry.metrics();
    expect(reads).toBe(after + 1);
  });

  it('a histogram stays cumulative, _count equal to +Inf, while a recorder is between its two adds', async () => {
    const h = new SharedHistogram();
    for (const ms of [0.01, 1, 1, 50]) h.record(ms);
    // record() adds to the bucket, then to the count: a scrape can land between the two. Here one
    // recorder has bumped the 1 ms bucket (40) and not yet the count (126).
    Atomics.add(new Int32Array(h.sab), 40, 1);
    const { le, count } = latency(await createPrometheusExport({ h }).metrics(), 'h');
    const inf = le.find(([l]) => l === '+Inf')![1];
    expect(count).toBe(inf);
    for (let i = 1; i < le.length; i++) expect(le[i][1], `le=${le[i][0]}`).toBeGreaterThanOrEqual(le[i - 1][1]);
    expect(inf).toBe(5);
  });

  it('a sample exactly on a bucket edge counts in the bucket whose le equals it (le is <=), recorded in a worker', async () => {
    // 2 µs, 1.024 ms and 4.096 ms are edges (2^1, 2^10, 2^12 µs). Each counted one bucket higher, so
    // le="0.000002" read 0, and a scraper's histogram_quantile put them above their true value.
    const h = new SharedHistogram();
    const go = new Int32Array(new SharedArrayBuffer(8));
    const w = new Worker(new URL('../fixtures/hist-recorder.mjs', import.meta.url), {
      workerData: { sab: h.sab, go, n: 3, ms: [0.002, 1.024, 4.096] },
    });
    try {
      const done = new Promise((resolve, reject) => (w.once('message', resolve), w.once('error', reject)));
      Atomics.store(go, 0, 1);
      Atomics.notify(go, 0);
      await done;
    } finally {
      await w.terminate();
    }
    const { le } = latency(await createPrometheusExport({ h }).metrics(), 'h');
    const at = new Map(le);
    expect([at.get('0.000002'), at.get('0.000512'), at.get('0.001024'), at.get('0.002048'), at.get('0.004096')]).toEqual([
      1, 1, 2, 2, 3,
    ]);
    expect(at.get('+Inf')).toBe(3);
  });

  it('escapes label values (quote, backslash, newline) so a parser reads back the name', async () => {
    const name = 'a"b\\c\nd';
    const text = await createPrometheusExport({ [name]: new TokenBucket({ capacity: 3, refillPerSecond: 1 }) }).metrics();
    const f = parsePrometheus(text).find((x) => x.name === 'skein_limiter_available')!;
    expect(f.metrics[0].labels?.limiter).toBe(name);
    expect(text).toContain('skein_limiter_available{limiter="a\\"b\\\\c\\nd"} 3');
  });
});

describe('32-bit shared counters past 2^31', () => {
  it('skein_breaker_calls_total keeps counting up, never negative', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 5, resetTimeout: 1000 });
    await breaker.execute(() => Promise.resolve(1));
    // This thread's stripe of lifetime successes (circuit-breaker-layout.ts: STRIPE0 = 48, stripe
    // threadId % 8 = 0, +0 successes), as if 2^31 - 1 calls had succeeded.
    Atomics.store(new Int32Array(breaker.handle.sab), 48, 0x7fffffff);
    await breaker.execute(() => Promise.resolve(1));
    expect(breaker.metrics().successes).toBe(2 ** 31);
    const text = await createPrometheusExport({ b: breaker }).metrics();
    expect(text).toContain('skein_breaker_calls_total{breaker="b",outcome="success"} 2147483648');
  });
});

describe('serveMetrics under scrapers', () => {
  it('answers /health with 500 when the objects cannot be read, and keeps serving', async () => {
    let broken = false;
    const server = await serveMetrics({
      port: 0,
      objects: () => {
        if (broken) throw new Error('registry is gone');
        return {};
      },
    });
    try {
      broken = true;
      const res = await fetch(`${server.url}/health`);
      expect(res.status).toBe(500);
      expect(await res.text()).toContain('registry is gone');
      expect((await fetch(`${server.url}/metrics`)).status).toBe(500);
      broken = false;
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('serves concurrent scrapes, each whole; 404 elsewhere, 405 for POST; close() frees the port', async () => {
    const h = new SharedHistogram();
    h.record(5);
    const server = await serveMetrics({ port: 0, objects: { h } });
    const { port } = server;
    const texts = await Promise.all(Array.from({ length: 20 }, () => fetch(`${server.url}/metrics`).then((r) => r.text())));
    for (const t of texts) expect(latency(t, 'h').count).toBe(1);
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    expect((await fetch(`${server.url}/metrics`, { method: 'POST' })).status).toBe(405);
    await server.close();
    await server.close(); // twice is harmless
    // The port is free again (a keep-alive socket of fetch's pool would not be a fair probe).
    const probe = createServer();
    await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(port, '127.0.0.1', resolve));
    await new Promise((resolve) => probe.close(resolve));
  });
});

describe('createPrometheusExport, as prom-client registries use it', () => {
  it('resetMetrics() of its registry, or of a merge of it, does not throw and scrapes go on', async () => {
    const client = createRequire(import.meta.url)('prom-client') as typeof import('prom-client');
    const bucket = new TokenBucket({ capacity: 5, refillPerSecond: 0.001 });
    const prom = createPrometheusExport({ api: bucket });
    const registry = prom.registry as unknown as import('prom-client').Registry;
    const merged = client.Registry.merge([new client.Registry(), registry]);
    expect(() => registry.resetMetrics()).not.toThrow(); // TypeError: this._metrics[metric].reset is not a function
    expect(() => merged.resetMetrics()).not.toThrow();
    expect(await merged.metrics()).toContain('skein_limiter_available{limiter="api"} 5');
  });
});
