/**
 * `serveMetrics`: an HTTP endpoint with `/metrics` (Prometheus text through prom-client) and
 * `/health` (JSON), bound to loopback unless told otherwise: metrics can reveal what a process does,
 * so exposing them beyond the machine is a choice the caller makes by passing `host`.
 */
// node:http is imported when a server starts: loading it costs tens of ms, and every pool worker
// imports the package root.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { allKeys, integer, invalid, object, onlyKeys } from '../memory/validate.js';
import { poolPhase, WorkerPool } from '../pool/index.js';
import { CircuitBreaker } from '../resilience/index.js';
import { traceBreaker, tracePool } from './diagnostics.js';
import { createPrometheusExport, type Observed } from './prometheus.js';

/** Options of {@link serveMetrics}. */
export interface ServeMetricsOptions {
  /** TCP port, an integer in [0, 65535]; 0 picks a free one (read it from the result). Default 9464. */
  port?: number;
  /** Address to bind. Default '127.0.0.1' (loopback only). */
  host?: string;
  /**
   * What to export, by name: pools, breakers, TokenBuckets, ConcurrencyManagers, SharedHistograms
   * (or a function returning them, read at each scrape). Pools and breakers are also traced on the
   * diagnostics channels (see diagnostics.ts).
   */
  objects?: Observed | (() => Observed);
}

const SERVE_KEYS = allKeys<ServeMetricsOptions>({ port: true, host: true, objects: true });

/** A running metrics endpoint. */
export interface MetricsServer {
  readonly server: Server;
  readonly host: string;
  readonly port: number;
  /** `http://host:port` */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * What `/health` answers: 200 with status 'ok', or 503 with 'degraded' and the reasons. It is
 * degraded while a breaker is open, half-open or forced open, while a pool has workers and none of them is healthy,
 * once a pool is broken (its workers cannot start: its task module fails to load, its `setup()`
 * throws or never settles, its workers die before they are ready), and once a pool is closing or
 * closed. Such a pool takes no task (it rejects them with WorkerModuleError, WorkerSetupError or
 * WorkerBootError when broken, PoolClosedError when closing or closed), so it is reported by its
 * `state` and named in `problems` (`pool hash: broken`, `pool hash: closed`), never as healthy.
 */
export interface HealthReport {
  status: 'ok' | 'degraded';
  problems: string[];
  /**
   * Per pool: its workers, how many are healthy, and its state: open, broken (it gave up on its
   * workers, which cannot start), closing or closed.
   */
  pools: Record<string, { workers: number; healthy: number; state: 'open' | 'broken' | 'closing' | 'closed' }>;
  breakers: Record<string, string>;
}

function health(objects: Observed): HealthReport {
  const r: HealthReport = { status: 'ok', problems: [], pools: {}, breakers: {} };
  for (const [name, o] of Object.entries(objects)) {
    if (o instanceof WorkerPool) {
      const hs = o.getHealthStatus();
      const healthy = hs.filter((h) => h.healthy).length;
      const state = poolPhase(o);
      r.pools[name] = { workers: hs.length, healthy, state };
      // A closed pool has no workers left, nor has a broken one once they exit, which alone read
      // as nothing wrong.
      if (state !== 'open') r.problems.push(`pool ${name}: ${state}`);
      else if (hs.length > 0 && healthy === 0) r.problems.push(`pool ${name}: no healthy worker`);
    } else if (o instanceof CircuitBreaker) {
      r.breakers[name] = o.state;
      if (o.state !== 'closed' && o.state !== 'forced-closed') r.problems.push(`breaker ${name}: ${o.state}`);
    }
  }
  if (r.problems.length > 0) r.status = 'degraded';
  return r;
}

/**
 * Serves `/metrics` and `/health` for `objects`. Resolves once listening. Needs prom-client (an
 * optional peer dependency): without it, rejects with MissingPeerDependencyError. A bad option (a
 * port that is not an integer in [0, 65535], a host that is not a string, `objects` that is neither
 * an object nor a function) rejects with InvalidArgumentError naming it, before anything is started.
 *
 * @example
 * ```ts
 * const m = await serveMetrics({ port: 9464, objects: { hash: pool, upstream: breaker } });
 * // curl http://127.0.0.1:9464/metrics
 * await m.close();
 * ```
 */
export async function serveMetrics(opts: ServeMetricsOptions = {}): Promise<MetricsServer> {
  onlyKeys(object(opts, 'serveMetrics options'), 'serveMetrics options', SERVE_KEYS); // `{ Port: 0 }` bound 9464
  const { port = 9464, host = '127.0.0.1', objects = {} } = opts;
  // Checked here: node:http's own checks throw a bare RangeError (ERR_SOCKET_BAD_PORT) or TypeError.
  integer(port, 'serveMetrics port', { min: 0, max: 65535 });
  if (typeof host !== 'string' || host === '') invalid('serveMetrics host', 'a non-empty string', host);
  if (typeof objects !== 'function' && (typeof objects !== 'object' || objects === null)) {
    invalid('serveMetrics objects', 'an object or a function', objects);
  }
  const read = (): Observed => {
    const o = typeof objects === 'function' ? objects() : objects;
    for (const [name, x] of Object.entries(o)) {
      if (x instanceof WorkerPool) tracePool(x, name);
      else if (x instanceof CircuitBreaker) traceBreaker(x, name);
    }
    return o;
  };
  read();
  const prom = createPrometheusExport(read);
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      prom.metrics().then(
        (text) => res.writeHead(200, { 'content-type': prom.contentType }).end(text),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err)),
      );
    } else if (path === '/health') {
      // A throw here (an `objects` function that fails) would escape the request listener and end
      // the process: it is this request's 500, as /metrics answers.
      let h: HealthReport;
      try {
        h = health(read());
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err));
        return;
      }
      res.writeHead(h.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(h));
    } else res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /health\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    server,
    host: addr.address,
    port: addr.port,
    url: `http://${shown}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
