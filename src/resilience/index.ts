export * from './errors.js';
export * from './token-bucket.js';
