// The channel and select: a byte ring in shared memory (byte-ring.ts), its producer and consumer
// sides, the rendezvous for capacity 0, streaming of messages larger than the ring, and select
// over several channels. Importers outside this folder use this face only.
export * from './channel.js';
export * from './select.js';
