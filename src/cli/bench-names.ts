/** The scenarios and peers `skein bench` knows (apart from bench-command.ts, so `skein run` does not load it). */
export const BENCH_SCENARIOS = ['trivial', 'latency', 'cpu10ms', 'cpu20us', 'memory'];
export const BENCH_PEERS = ['piscina', 'tinypool', 'poolifier', 'workerpool'];
