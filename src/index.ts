/**
 * skein: parallel compute on Node.js worker threads.
 * Layers, bottom to top: memory, sync, pool, resilience, flow, observe (see DESIGN.md).
 */
export * from './memory/index.js';
export * from './pool/index.js';
export * from './resilience/index.js';
export * from './sync/index.js';

import { setWorkerPreload } from './pool/main/index.js';

// Pool workers import this module first, so every shared kind is registered there and shared
// objects in task inputs arrive as live objects.
setWorkerPreload(import.meta.url);
