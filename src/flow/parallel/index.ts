/**
 * Data-parallel loops over shared typed arrays: `parallelFor`, `parallelMap`, `parallelReduce`.
 * Importing this face also registers the worker-side participant (every pool worker imports the
 * package root, and so this, before its task module).
 */
import './participant.js';

export {
  type ElementOf,
  type IndexRange,
  parallelFor,
  parallelMap,
  type ParallelMapOptions,
  type ParallelOptions,
  parallelReduce,
  type ParallelReduceOptions,
  type TypedArray,
} from './parallel.js';
