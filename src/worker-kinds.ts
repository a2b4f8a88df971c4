/**
 * The modules that register the shared kinds and error classes of the memory, sync and resilience
 * layers: a pool worker loads them when the first shared object or error record of theirs arrives
 * (worker-preload.ts, memory/lazy-kinds.ts). No top-level await here or below: it may be loaded
 * with require().
 * Internal (not a package export).
 */
import './memory/index.js';
import './sync/index.js';
import './resilience/index.js';
