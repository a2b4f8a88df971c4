export * from './clock.js';
export * from './codec.js';
export * from './errors.js';
export * from './handle.js';
export * from './histogram.js';
export * from './spin.js';
export * from './spin-lock.js';
export * from './wait/index.js';
