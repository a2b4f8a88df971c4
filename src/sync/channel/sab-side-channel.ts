/**
 * Carries the SharedArrayBuffers of a channel message beside its bytes.
 *
 * A value holding shared memory (a `Semaphore` inside a message) encodes to bytes plus a list of
 * SABs (codec tag V8Shared), and a SAB cannot be written into a byte ring. So the sender posts
 * `{ seq, sabs }` on a `BroadcastChannel` named after the channel, keyed by the message's sequence
 * number (the channel's SENT count when it was published), just before it publishes the record.
 * Node delivers a BroadcastChannel message to every other instance's queue before `postMessage`
 * returns, and `receiveMessageOnPort` takes it from that queue synchronously, even in a worker that
 * is blocked and runs no event loop. The receiver of message `seq` pulls until it has `seq`.
 *
 * Every thread that holds the channel gets every side message, so stale ones are dropped: a side
 * message whose seq is below RECVD (already received by someone) is discarded wherever it is seen,
 * by the `message` listener (threads whose loop runs) or by a pull (threads that send or receive).
 *
 * A thread that revived the channel after a message was sent has no copy of it: it then asks with
 * `{ req: seq }` and the sending thread, which keeps its sent lists until they are received,
 * answers from its listener or from its next send. The receiver waits for the answer at most
 * {@link RESEND_WAIT_MS} and then throws: the sender thread is gone or never runs its event loop.
 *
 * Both BroadcastChannels are unref'd, so they keep no process alive, and closed once the channel
 * object of this thread is garbage-collected and nothing it sent waits to be received: a thread
 * that sends a shared object and then lets go of the channel must still answer a receiver that
 * asks for the buffers later.
 */
import { BroadcastChannel, type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import { now } from '../../memory/clock.js';
import { SerializationError } from '../../memory/errors.js';
import { napSync } from '../../memory/wait/index.js';

/** How long a receiver waits for another thread to re-send a message's shared buffers. */
export const RESEND_WAIT_MS = 5000;

interface SideMessage {
  seq?: number;
  sabs?: SharedArrayBuffer[];
  req?: number;
}

const closer = new FinalizationRegistry<SabSideChannel>((side) => side.ownerGone());

export class SabSideChannel {
  readonly #name: string;
  readonly #in: BroadcastChannel;
  #out: BroadcastChannel | undefined;
  /** Side messages seen here and not yet received: seq -> sabs. */
  readonly #stash = new Map<number, SharedArrayBuffer[]>();
  /** What this thread sent and nobody has received yet, for re-send requests. */
  readonly #sent = new Map<number, SharedArrayBuffer[]>();
  /** Messages below this seq have been received (reads the channel's RECVD). */
  readonly #received: () => number;
  readonly #bcs: BroadcastChannel[] = [];
  /** This thread's channel object is gone: close once nothing sent here waits to be received. */
  #orphan = false;

  constructor(name: string, received: () => number, owner: object) {
    this.#name = name;
    this.#received = received;
    this.#in = new BroadcastChannel(name);
    this.#in.onmessage = (e: unknown) => this.#accept((e as { data: SideMessage }).data);
    this.#in.unref();
    this.#bcs.push(this.#in);
    closer.register(owner, this);
  }

  /** This thread's channel object was garbage-collected (its FinalizationRegistry). */
  ownerGone(): void {
    this.#orphan = true;
    this.#prune();
  }

  #outbox(): BroadcastChannel {
    if (!this.#out) {
      this.#out = new BroadcastChannel(this.#name);
      this.#out.unref();
      this.#bcs.push(this.#out);
    }
    return this.#out;
  }

  /** Whether `seq` is still waiting to be received. */
  #pending(seq: number): boolean {
    return ((seq - this.#received()) | 0) >= 0;
  }

  #accept(m: SideMessage): void {
    if (typeof m.req === 'number') {
      const sabs = this.#sent.get(m.req);
      if (sabs) this.#outbox().postMessage({ seq: m.req, sabs });
    } else if (typeof m.seq === 'number' && Array.isArray(m.sabs) && this.#pending(m.seq)) {
      this.#stash.set(m.seq, m.sabs);
    }
    this.#prune();
  }

  #prune(): void {
    for (const map of [this.#stash, this.#sent]) {
      for (const seq of map.keys()) if (!this.#pending(seq)) map.delete(seq);
    }
    if (this.#orphan && this.#sent.size === 0) {
      this.#orphan = false;
      for (const bc of this.#bcs) bc.close();
    }
  }

  /** Pulls everything queued for this thread (answering re-send requests on the way). */
  #drain(): void {
    // Node's receiveMessageOnPort takes a BroadcastChannel too; its typings name only MessagePort.
    const port = this.#in as unknown as MessagePort;
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
      this.#accept(m.message as SideMessage);
    }
  }

  /** Posts the SABs of message `seq`; call before publishing its record. */
  post(seq: number, sabs: SharedArrayBuffer[]): void {
    this.#drain();
    this.#sent.set(seq, sabs);
    this.#outbox().postMessage({ seq, sabs });
  }

  /** Message `seq` will never be received (a rendezvous send took it back). */
  forget(seq: number): void {
    this.#sent.delete(seq);
    this.#stash.delete(seq);
  }

  /** The SABs of message `seq`, which the caller is receiving now. */
  take(seq: number): SharedArrayBuffer[] {
    const mine = this.#sent.get(seq) ?? this.#stash.get(seq);
    if (mine) return this.#taken(seq, mine);
    this.#drain();
    const got = this.#stash.get(seq);
    if (got) return this.#taken(seq, got);
    this.#outbox().postMessage({ req: seq });
    const deadline = now() + RESEND_WAIT_MS;
    let nap = 0.05;
    while (now() < deadline) {
      napSync(nap);
      nap = Math.min(nap * 2, 10);
      this.#drain();
      const late = this.#stash.get(seq);
      if (late) return this.#taken(seq, late);
    }
    throw new SerializationError(
      `the shared buffers of channel message #${seq} never reached this thread: the thread that sent ` +
        'it has exited or has not run its event loop since; give the channel to a thread before ' +
        'sending it shared objects',
    );
  }

  #taken(seq: number, sabs: SharedArrayBuffer[]): SharedArrayBuffer[] {
    this.#stash.delete(seq);
    this.#sent.delete(seq);
    return sabs;
  }
}
