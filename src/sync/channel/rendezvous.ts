/**
 * A rendezvous channel (capacity 0): a ring of one message (CAP = 1) whose sender waits until a
 * receiver has taken it.
 *
 * Receivers announce themselves in WAITING while they wait (recv, and select's receive cases;
 * waiting.ts, byte-ring.ts invariant 9). A blocking send of a message that fits the ring offers it
 * at once and then waits for a taker; a trySend, or a message that must stream, goes only to a
 * receiver that is waiting now. A sender that gives up (timeout, abort, close) takes its message
 * back under CLOCK ({@link retract}), so a send that fails was never received.
 */
import { now } from '../../memory/clock.js';
import type { Encoded } from '../../memory/codec.js';
import { cpuRelax } from '../../memory/spin.js';
import { blockUntil, ring, unlimited, type Wait } from '../../memory/wait/index.js';
import * as R from './byte-ring.js';
import { closedError, PUT_OK } from './message.js';
import type { ChannelProducer } from './producer.js';
import { STALL_POLL_MS } from './cut.js';
import { censusWaiting, waitingNow } from './waiting.js';

/** How long a rendezvous trySend waits for a waiting receiver to take its message. */
const HANDOFF_SPIN_MS = 0.2;

/** Whether a send of a `rec`-byte record may be offered now (`stream`: a blocking send). */
export function offerable(p: ChannelProducer, rec: number, stream: boolean): boolean {
  return (stream && rec <= p.r.size) || waitingNow(p.c) > 0;
}

/** Whether message `seq` has been received (or taken back). */
function taken(c: Int32Array, seq: number): boolean {
  return ((Atomics.load(c, R.RECVD) - seq) | 0) > 0;
}

/** Waits until a receiver took message `seq`; takes it back on timeout, abort or close. */
export function* handoff(p: ChannelProducer, seq: number): Generator<Wait, void, undefined> {
  const c = p.c;
  const done = (): true | undefined => (taken(c, seq) || p.core.closed ? true : undefined);
  try {
    yield { word: p.core.room, ready: done, timed: true };
  } catch (err) {
    if (retract(p, seq)) throw err;
    return;
  }
  if (!taken(c, seq) && retract(p, seq)) throw closedError();
}

/**
 * trySend: offers to a waiting receiver and spins briefly for it to take the message. An offer no
 * one took holds a census of WAITING, which uncounts receivers terminated while they waited
 * (byte-ring.ts invariant 9).
 */
export function tryHandoff(p: ChannelProducer, enc: Encoded): boolean {
  if (p.tryPut(enc, false) !== PUT_OK) return false;
  const seq = p.lastSeq;
  const until = now() + HANDOFF_SPIN_MS;
  for (let i = 0; !taken(p.c, seq); i++) {
    if ((i & 255) === 255 && now() > until) {
      if (!retract(p, seq)) return true;
      censusWaiting(p.core);
      return false;
    }
    cpuRelax();
  }
  return true;
}

/**
 * Takes back message `seq` if no receiver has taken it; returns whether it did. With CAP = 1 and
 * `seq` not received, that message is the only record in the ring, so under CLOCK moving HEAD to
 * TAIL and counting it received removes exactly it. CLOCK is held by receivers only while they
 * copy a record, so waiting for it is short (a receiver terminated there is freed after
 * HELD_STALL_MS: byte-ring.ts invariant 7).
 */
export function retract(p: ChannelProducer, seq: number): boolean {
  const c = p.c;
  const consumer = p.core.consumer;
  for (;;) {
    if (taken(c, seq)) return false;
    if (consumer.lock()) {
      const mine = !taken(c, seq);
      if (mine) {
        Atomics.store(c, R.HEAD, Atomics.load(c, R.TAIL));
        Atomics.store(c, R.RECVD, (seq + 1) | 0);
        p.core.side.forget(seq);
      }
      consumer.unlock();
      ring(p.core.room);
      return mine;
    }
    // A receiver terminated inside a record is freed after HELD_STALL_MS (byte-ring.ts invariant 7).
    const free = (): true | undefined => (taken(c, seq) || consumer.clockFree() ? true : undefined);
    blockUntil(p.core.clw, free, unlimited('Channel.retract'), STALL_POLL_MS);
  }
}
