/** Fan-out and fan-in: many inputs over a pool or a function, many sources into one. */
export { type FanInCandidate, type FanInItem, type FanInOptions, type FanInStrategy, fanIn } from './fan-in.js';
export { type FanFunction, type FanOutContext, type FanOutOptions, fanOut } from './fan-out.js';
export { FanPattern, type FanPatternOptions } from './fan-pattern.js';
