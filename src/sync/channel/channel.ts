import { type Encoded, newEncoded, ownEncoded } from '../../memory/codec.js';
import { InvalidArgumentError } from '../../memory/errors.js';
import { corrupt, defineSharedKind, isReopen, type Reopen, SharedObjectBase } from '../../memory/shared-object.js';
import { allKeys, integer, object, onlyKeys } from '../../memory/validate.js';
import { checkAborted, checkWaitOptions, runAsync, runSync, threadBell, type WaitOptions } from '../../memory/wait/index.js';
import { initRing, MAX_RING, MIN_RING, ringBytes, ringShape, ringSizeFor } from './byte-ring.js';
import { ChannelCore } from './core.js';
import type { ChannelConsumer } from './consumer.js';
import { ChannelIterator } from './iterator.js';
import { ASYNC_POLL_SPIN, closedError, encodeMessage, PUT_OK, type RecvResult, TAKE_BUSY } from './message.js';
import type { ChannelProducer } from './producer.js';
import { tryHandoff } from './rendezvous.js';

export type { RecvResult } from './message.js';

/** Options of `new Channel()`. */
export interface ChannelOptions {
  /**
   * Messages the channel holds before `send` waits: an integer >= 0. 0 makes a rendezvous channel,
   * where a send completes only once a receiver has taken the message.
   */
  capacity: number;
  /**
   * Bytes of the ring that holds the messages (rounded up to a power of two, 64 B to 1 GiB).
   * Default `capacity * 1 KiB` within [128 KiB, 1 MiB]. Messages larger than the ring still go
   * through, streamed in chunks.
   */
  bytes?: number;
}

const cores = new WeakMap<object, ChannelCore>();

/** @internal The engine of a channel (for `select`). */
export function coreOf(ch: Channel<unknown>): ChannelCore {
  const core = cores.get(ch);
  if (!core) throw new InvalidArgumentError('select() cases need a Channel');
  return core;
}

/** Most messages a channel holds. */
const MAX_CAPACITY = 0x3fffffff;

/** What a Channel's handle carries besides its memory: capacity as given, and ring bytes. */
interface ChannelConfig {
  readonly capacity: number;
  readonly bytes: number;
}

const CHANNEL_KEYS = allKeys<ChannelOptions>({ capacity: true, bytes: true });

function checkCapacity(opts: ChannelOptions | undefined): ChannelConfig {
  const o = object<ChannelOptions>(opts, 'Channel options');
  onlyKeys(o, 'Channel options', CHANNEL_KEYS); // `{ capacity: 8, byte: 1 << 20 }` got the default ring
  const capacity = integer(o.capacity, 'Channel capacity', { min: 0, max: MAX_CAPACITY });
  let bytes = o.bytes;
  if (bytes === undefined) bytes = Math.min(Math.max(capacity * 1024, 128 * 1024), 1024 * 1024);
  else integer(bytes, 'Channel bytes', { min: 1, max: MAX_RING });
  return { capacity, bytes: ringSizeFor(bytes) };
}

// Memory: the control block and ring of byte-ring.ts, then the tag block.
const CHANNEL = defineSharedKind<ChannelConfig, Channel<unknown>>({
  name: 'Channel',
  tag: 4,
  layout: 2,
  checkConfig: (c) => {
    const { capacity, bytes } = checkCapacity(c as ChannelOptions);
    if (bytes !== (c as ChannelConfig).bytes) {
      throw new InvalidArgumentError(`Channel ring bytes must be a power of two in [${MIN_RING}, ${MAX_RING}]`);
    }
    return { capacity, bytes };
  },
  bodyBytes: (c) => ringBytes(c.bytes),
  init: (sab, c) => initRing(sab, c.capacity, c.bytes, threadBell().id),
  checkBody: (sab, c) => {
    const m = ringShape(sab);
    if (m.capacity !== c.capacity || m.cap !== (c.capacity || 1) || m.size !== c.bytes) {
      throw corrupt('Channel', `its control block says capacity ${m.capacity} and ${m.size} ring bytes`);
    }
  },
  make: (r) => new Channel(r),
});

/**
 * Go's channel over shared memory: a bounded FIFO of messages between any threads. Many senders
 * and receivers may use one channel at once; each sender's messages arrive in the order it sent
 * them, and each message is received exactly once.
 *
 * A message is any value the codec copies (structured-cloneable values; numbers, strings, bytes
 * and plain objects and arrays skip the serializer, see memory/codec.ts), of any size up to 1 GiB encoded: messages larger than the ring stream through
 * it in order. Shared objects inside a message (a `Semaphore`, another `Channel`) arrive as live
 * objects. An uncloneable value throws `SerializationError` at the sender, before anything is
 * written. What arrives is what `structuredClone` would give, except that named (non-index)
 * properties of arrays are dropped.
 *
 * Closing follows Go: `send` on a closed channel throws `ChannelClosedError`, receivers drain what
 * is buffered and then get `{ ok: false }`, `close()` wakes every waiting sender and receiver, and
 * closing twice throws `ChannelClosedError`. `capacity: 0` makes a rendezvous channel: a send
 * completes once a receiver has taken the message (a send that times out takes it back).
 *
 * On the main thread use the async forms; `sendSync`/`recvSync` block and are for workers. Waits
 * poll briefly (about 10 µs in a worker, 1 µs in an async call) and then sleep on a wait word;
 * see core.ts for the queue and memory/wait/word.ts for the wake-up protocol.
 *
 * Dead peers (byte-ring.ts invariants 4, 5): every timed or abortable wait settles by its limit.
 * A sender terminated while it streams a message larger than the ring is cut by a waiting thread
 * once it has stood still for STREAM_STALL_MS with the ring empty, and its part is dropped (a live
 * sender descheduled that long inside a chunk's write would be taken for dead too, and could
 * corrupt the ring when it resumes: the limit is set far above such stalls).
 * A sender terminated in the microseconds it holds the producer lock to copy one whole message is
 * cut the same way after HELD_STALL_MS (30 s): it cannot be told from a live one, so the limit is
 * long; a receiver terminated while it copies one message is likewise freed after HELD_STALL_MS
 * (byte-ring.ts invariant 7), and the message goes to the next receiver. Limit: a receiver
 * terminated in the middle of a stream leaves the consumer side blocked (waits time out). Shared objects travel beside the bytes on a BroadcastChannel; a thread
 * that rebuilt the channel only after such a message was sent gets its buffers from the sending
 * thread on request, which needs that thread alive and running its event loop (or sending again)
 * within 5 s, else the receive throws `SerializationError`.
 *
 * @example
 * ```ts
 * const jobs = new Channel<{ id: number }>({ capacity: 64 });
 * new Worker(new URL('./consumer.js', import.meta.url), { workerData: jobs });   // there: Channel.from(workerData)
 * for (let id = 0; id < 1000; id++) await jobs.send({ id });
 * jobs.close();
 * // in the worker:
 * for (let r = jobs.recvSync(); r.ok; r = jobs.recvSync()) handle(r.value);
 * ```
 */
export class Channel<T = unknown> extends SharedObjectBase<ChannelConfig> implements AsyncIterable<T> {
  readonly #core: ChannelCore;
  readonly #p: ChannelProducer;
  readonly #q: ChannelConsumer;
  readonly #enc: Encoded = newEncoded();

  constructor(opts: ChannelOptions);
  /** @internal rebuilds over checked memory; use {@link Channel.from}. */
  constructor(opts: ChannelOptions | Reopen<ChannelConfig>);
  constructor(opts: ChannelOptions | Reopen<ChannelConfig>) {
    super(CHANNEL, isReopen(opts) ? opts : checkCapacity(opts));
    this.#core = new ChannelCore(this.handle.sab, this.handle.id, this);
    this.#p = this.#core.producer;
    this.#q = this.#core.consumer;
    cores.set(this, this.#core);
  }

  /** The live Channel for what arrived from another thread (the clone of one, or its `handle`). */
  static from<T = unknown>(received: unknown): Channel<T> {
    return CHANNEL.open(received) as Channel<T>;
  }

  /** Messages the channel holds before a send waits (0: rendezvous). */
  get capacity(): number {
    return this.#core.rendezvous ? 0 : this.#core.cap;
  }

  /** Messages sent and not yet received (always 0 on a rendezvous channel). */
  get length(): number {
    return this.#core.length;
  }

  /** Whether `close()` has been called (messages may still be buffered). */
  get closed(): boolean {
    return this.#core.closed;
  }

  /** Encodes into the reused scratch (the fast path uses it and returns before anyone else can). */
  #encode(value: T): Encoded {
    return encodeMessage(value, this.#enc);
  }

  /**
   * Sends `value`, waiting for room. Rejects with ChannelClosedError, TimeoutError or AbortError
   * (then nothing was sent), or SerializationError. A message larger than the ring streams; a
   * timeout or abort in the middle cuts it, and a receiver that had begun it drops its part.
   */
  async send(value: T, opts?: WaitOptions): Promise<void> {
    checkWaitOptions(opts, 'Channel.send options');
    checkAborted(opts);
    const p = this.#p;
    const e = this.#encode(value);
    if (!p.rendezvous && (p.tryPut(e, false) === PUT_OK || p.spinPut(e, ASYNC_POLL_SPIN))) return;
    await runAsync(p.putSteps(ownEncoded(e)), opts, 'Channel.send');
  }

  /** Blocking form of {@link send}, for worker threads. */
  sendSync(value: T, opts?: WaitOptions): void {
    checkWaitOptions(opts, 'Channel.sendSync options');
    checkAborted(opts);
    const p = this.#p;
    const e = this.#encode(value);
    if (!p.rendezvous && (p.tryPut(e, false) === PUT_OK || p.spinPut(e))) return;
    // No copy of `e`: this thread runs nothing else until the send ends, so neither the caller's
    // value nor the plain codec's buffer can change meanwhile.
    runSync(p.putSteps(e), opts, 'Channel.sendSync');
  }

  /**
   * Sends `value` if that can be done without waiting; returns whether it was sent. Throws
   * ChannelClosedError on a closed channel. All or nothing: a message larger than the ring's free
   * space returns false (send it with `send`). On a rendezvous channel it succeeds only when a
   * receiver is waiting and takes the message at once.
   */
  trySend(value: T): boolean {
    const p = this.#p;
    const e = this.#encode(value);
    if (p.rendezvous) return tryHandoff(p, e);
    const r = p.tryPut(e, false);
    if (r !== PUT_OK && p.core.closed) throw closedError();
    return r === PUT_OK;
  }

  /**
   * Receives the next message, waiting for one: `{ ok: true, value }`, or `{ ok: false }` once the
   * channel is closed and drained. Rejects with TimeoutError or AbortError (then nothing was taken).
   * The timeout and signal apply until a message begins to arrive: a message larger than the ring
   * that has begun streaming in is received whole, however long its sender takes (a sender that
   * gives up or stands still for 2 s is cut, and then this receive waits on within its limits;
   * byte-ring.ts invariant 8).
   */
  async recv(opts?: WaitOptions): Promise<RecvResult<T>> {
    checkWaitOptions(opts, 'Channel.recv options');
    checkAborted(opts);
    const q = this.#q;
    const r = q.tryTake<T>(false);
    if (typeof r === 'object') return r;
    return q.spinTake<T>(ASYNC_POLL_SPIN) ?? runAsync(q.takeSteps<T>(), opts, 'Channel.recv');
  }

  /** Blocking form of {@link recv}, for worker threads. */
  recvSync(opts?: WaitOptions): RecvResult<T> {
    checkWaitOptions(opts, 'Channel.recvSync options');
    checkAborted(opts);
    const q = this.#q;
    const r = q.tryTake<T>(false);
    if (typeof r === 'object') return r;
    return q.spinTake<T>() ?? runSync(q.takeSteps<T>(), opts, 'Channel.recvSync');
  }

  /**
   * Receives without waiting: `{ ok: true, value }`; `{ ok: false }` when the channel is closed and
   * drained; `undefined` when nothing can be taken right now (empty, another receiver is copying,
   * or the next message is larger than the ring and must be received with `recv`).
   */
  tryRecv(): RecvResult<T> | undefined {
    const r = this.#q.tryTake<T>(false);
    if (r === TAKE_BUSY) this.#q.watchHolder(); // a poll frees a dead receiver's lock too (byte-ring.ts invariant 7)
    return typeof r === 'number' ? undefined : r;
  }

  /** Closes the channel: no more sends; receivers drain what is buffered. Throws if already closed. */
  close(): void {
    this.#core.close();
  }

  /**
   * Yields every message until the channel is closed and drained. Its `return()` (a `break`, or a
   * merge such as fanIn closing its sources) also ends a receive still waiting: nothing is taken.
   * A receive already inside a message larger than the ring finishes it instead, and its `next()`
   * yields it (byte-ring.ts invariant 8).
   */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return new ChannelIterator(this);
  }
}

