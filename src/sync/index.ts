export * from './channel/index.js';
export * from './errors.js';
export * from './guard.js';
export * from './mutex.js';
export * from './semaphore.js';
export * from './wait-group.js';
