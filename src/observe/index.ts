export { CHANNELS, traceBreaker, tracePool } from './diagnostics.js';
export type { BreakerStateMessage, TaskEndMessage, TaskStartMessage } from './diagnostics.js';
export { MissingPeerDependencyError } from './errors.js';
export { createPrometheusExport } from './prometheus.js';
export type { Observed, PrometheusExport } from './prometheus.js';
export { serveMetrics } from './serve-metrics.js';
export type { HealthReport, MetricsServer, ServeMetricsOptions } from './serve-metrics.js';
export { PatternRegistry } from './pattern-registry.js';
export type {
  ProtectiveEvent,
  ProtectiveOptions,
  RegisteredKind,
  Registrable,
  RegisterOptions,
  ShutdownReport,
} from './pattern-registry.js';
