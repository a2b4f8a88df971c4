/**
 * A channel's async iterator. Not an async generator: a generator queues `return()` behind a
 * `next()` still waiting for a message, so a caller that closes the iterator while a receive waits
 * (fanIn after a `break`, fanOut or a pipeline after an abort) left that receive waiting for good.
 * Its ref'd wait kept the process alive, and it took (and dropped) the next message sent. Here
 * `return()` aborts the waiting receive, which then takes nothing, and that `next()` is done.
 *
 * A receive already in the middle of a message larger than the ring when `return()` aborts it
 * finishes that message (byte-ring.ts invariant 8), and its `next()` yields it.
 */
import type { WaitOptions } from '../../memory/wait/index.js';
import type { RecvResult } from './message.js';

/** The part of a Channel the iterator uses. */
interface Receiver<T> {
  tryRecv(): RecvResult<T> | undefined;
  recv(opts?: WaitOptions): Promise<RecvResult<T>>;
}

export class ChannelIterator<T> implements AsyncIterableIterator<T> {
  readonly #ch: Receiver<T>;
  /** Made when a receive first has to wait; aborted by `return()`. */
  #stop: AbortController | undefined;
  #over = false;
  /** next() calls not yet settled, and the last of them: a next() made meanwhile waits its turn. */
  #inFlight = 0;
  #last: Promise<IteratorResult<T>> | undefined;

  constructor(ch: Receiver<T>) {
    this.#ch = ch;
  }

  /** The next message; calls made before the last one settled take theirs in call order, as a generator's do. */
  next(): Promise<IteratorResult<T>> {
    const take = (): Promise<IteratorResult<T>> => this.#take();
    const last = this.#inFlight > 0 ? this.#last : undefined;
    this.#inFlight++;
    const p = last ? last.then(take, take) : take();
    this.#last = p;
    return p;
  }

  async #take(): Promise<IteratorResult<T>> {
    try {
      if (this.#over) return { value: undefined, done: true };
      // The signal only for a receive that waits: a message already there is taken as recv() would.
      let r = this.#ch.tryRecv();
      if (r === undefined) {
        const stop = (this.#stop ??= new AbortController());
        try {
          r = await this.#ch.recv({ signal: stop.signal });
        } catch (err) {
          if (stop.signal.aborted) return { value: undefined, done: true }; // return() ended the wait
          throw err;
        }
      }
      if (r.ok) return { value: r.value, done: false };
      this.#over = true;
      return { value: undefined, done: true };
    } finally {
      this.#inFlight--;
    }
  }

  return(): Promise<IteratorResult<T>> {
    this.#over = true;
    this.#stop?.abort();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
