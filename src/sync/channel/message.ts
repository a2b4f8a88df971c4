/**
 * What both sides of a channel share: a message's encoding (the codec's, within the channel's size
 * limit), the buffer a received message is copied into, what a try and a receive yield, and how
 * long a blocking operation polls before it sleeps.
 */
import { isMainThread } from 'node:worker_threads';
import { type Encoded, encodeTransient, payloadLength } from '../../memory/codec.js';
import { SerializationError } from '../../memory/errors.js';
import { MAX_MESSAGE } from './byte-ring.js';
import { ChannelClosedError } from '../errors.js';

/**
 * Polls a blocking send or receive makes for room or data before it sleeps (see spinPut/spinTake):
 * about 10 µs in a worker. An async one polls too, on any thread, but only about 1 µs: long enough
 * to catch a producer that is just ahead (a sleep through waitAsync costs an event-loop task per
 * wake-up), short enough to hold the event loop no longer than a small task does.
 */
export const POLL_SPIN = isMainThread ? 0 : 200;
export const ASYNC_POLL_SPIN = 30;

/** What `ChannelProducer.tryPut` returns. */
export const PUT_OK = 0;
export const PUT_FULL = 1;
export const PUT_BUSY = 2;
export const PUT_STREAM = 3;
/** What `ChannelConsumer.tryTake` returns when it has no result. */
export const TAKE_EMPTY = 0;
export const TAKE_BUSY = 1;
export const TAKE_STREAM = 2;

/** What a receive yields: a value, or `{ ok: false }` once the channel is closed and drained. */
export type RecvResult<T> = { ok: true; value: T } | { ok: false };
export const CLOSED_RESULT: { ok: false } = Object.freeze({ ok: false as const });

/**
 * A Uint8Array of `n` bytes that the caller fills entirely: no zero-fill (4x faster for 64 KiB),
 * and its own ArrayBuffer (allocUnsafeSlow does not pool), so `bytes.buffer` is exactly the bytes.
 */
export function uninitialized(n: number): Uint8Array {
  const b = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

export function closedError(): ChannelClosedError {
  return new ChannelClosedError('send on a closed channel');
}

/**
 * Encodes a message into `out` (codec.ts's `encodeTransient`: a plain-coded message's bytes are
 * valid only until the next message is encoded; a send that waits keeps `ownEncoded`). Throws
 * SerializationError for an uncloneable or too large value.
 */
export function encodeMessage(value: unknown, out: Encoded): Encoded {
  const e = encodeTransient(value, out);
  if (payloadLength(e) > MAX_MESSAGE) {
    throw new SerializationError(
      `a channel message may be at most ${MAX_MESSAGE} bytes encoded, got ${payloadLength(e)}`,
    );
  }
  return e;
}
