/**
 * The shared-memory engine of `Channel`: a two-lock queue over a byte ring (layout: byte-ring.ts).
 *
 * Producers serialize among themselves with PLOCK, consumers with CLOCK; a producer and a consumer
 * meet only through TAIL/HEAD, so between the two lock holders it is a single-producer
 * single-consumer ring and an uncontended send or receive costs one CAS for its lock. Locks are
 * held only while bytes move, never while waiting for room or data, so a send or receive that
 * times out or is aborted holds nothing and has written nothing. The exception is a message larger
 * than the ring: it streams as chunks while the sender holds PLOCK and the receiver holds CLOCK
 * (order is kept). The sender's timeout and signal still apply: one that gives up, or finds the
 * channel closed, cuts its stream and the receiver drops the partial message. The receiver's do
 * not: once it has read the FIRST chunk it takes the whole message (byte-ring.ts invariant 8).
 *
 * Each thread keeps lower bounds of the other side's counters (producer: HEAD and RECVD, consumer:
 * TAIL) and reloads them only when they say "full" or "empty", or when another thread of its own
 * side moved since (then the bound may be stale by more than a ring).
 *
 * The send path is producer.ts, the receive path consumer.ts, a rendezvous
 * channel's hand-off rendezvous.ts; this file holds what both sides share, and close.
 */
import { ring, threadBell, type WaitWord, wordAt } from '../../memory/wait/index.js';
import * as R from './byte-ring.js';
import { ChannelConsumer } from './consumer.js';
import { ChannelProducer } from './producer.js';
import { ChannelClosedError } from '../errors.js';
import { SabSideChannel } from './sab-side-channel.js';

/** One thread's view of one channel: its memory, and this thread's producer and consumer state. */
export class ChannelCore {
  readonly r: R.RingViews;
  readonly c: Int32Array;
  /** Messages the ring may hold (1 for a rendezvous channel). */
  readonly cap: number;
  readonly rendezvous: boolean;
  /** Carries the SharedArrayBuffers of messages that hold some. */
  readonly side: SabSideChannel;
  readonly producer: ChannelProducer;
  readonly consumer: ChannelConsumer;
  /**
   * This thread's bell when the channel was made by a thread that shares it; then the wait words
   * are belled (memory/wait/word.ts invariant 9) and a selectSync over several such channels sleeps
   * on the bell. Undefined in a thread with another bell (it marks the channel FOREIGN).
   */
  readonly bell: WaitWord | undefined;
  /** Wait words (byte-ring.ts): rung when data appears, room appears, PLOCK or CLOCK is released. */
  readonly data: WaitWord<'channel.data'>;
  readonly room: WaitWord<'channel.room'>;
  readonly plw: WaitWord<'channel.plock'>;
  readonly clw: WaitWord<'channel.clock'>;

  constructor(sab: SharedArrayBuffer, id: string, owner: object) {
    this.r = new R.RingViews(sab);
    this.c = this.r.c;
    this.cap = this.c[R.CAP];
    this.rendezvous = this.c[R.USER_CAP] === 0;
    const bell = threadBell();
    this.bell = Atomics.load(this.c, R.BELL) === bell.id ? bell.word : undefined;
    if (this.bell === undefined && Atomics.load(this.c, R.FOREIGN) === 0) Atomics.store(this.c, R.FOREIGN, 1);
    this.data = wordAt(this.c, R.DATA, this.bell);
    this.room = wordAt(this.c, R.ROOM, this.bell);
    this.plw = wordAt(this.c, R.PLW, this.bell);
    this.clw = wordAt(this.c, R.CLW, this.bell);
    this.side = new SabSideChannel(`skein.channel.${id}`, () => Atomics.load(this.c, R.RECVD), owner);
    this.producer = new ChannelProducer(this);
    this.consumer = new ChannelConsumer(this);
  }

  get closed(): boolean {
    return (Atomics.load(this.c, R.PLOCK) & R.CLOSED) !== 0;
  }

  /** Messages sent and not yet received. */
  get length(): number {
    const n = (Atomics.load(this.c, R.SENT) - Atomics.load(this.c, R.RECVD)) | 0;
    return Math.max(0, Math.min(n, this.rendezvous ? 0 : this.cap));
  }

  close(): void {
    const prev = Atomics.or(this.c, R.PLOCK, R.CLOSED);
    if (prev & R.CLOSED) throw new ChannelClosedError('close of a closed channel');
    ring(this.data);
    ring(this.room);
    ring(this.plw);
    ring(this.clw);
  }
}
