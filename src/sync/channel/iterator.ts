/**
 * A channel's async iterator. Not an async generator: a generator queues `return()` behind a
 * `next()` still waiting for a message, so a caller that closes the iterator while a receive waits
 * (fanIn after a `break`, fanOut or a pipeline after an abort) left that receive waiting for good.
 * Its ref'd wait kept the process alive, and it took (and dropped) the next message sent. Here
 * `return()` aborts the waiting receive, which then takes nothing, and that `next()` is done.
 *
 * A receive aborted in the middle of a message larger than the ring keeps the consumer lock and
 * the part it read, for this thread's next receive to carry on (stream.ts); after `return()` no
 * receive of the iterator comes, so the lock stayed held: every other receiver of the channel, on
 * every thread, waited out its timeout or for good, and the sender waited for room for good. So
 * that receive finishes the message (it needs no new one: `finish`), and its `next()` yields it.
 */
import type { WaitOptions } from '../../memory/wait/index.js';
import type { RecvResult } from './message.js';

/** The part of a Channel the iterator uses. */
interface Receiver<T> {
  tryRecv(): RecvResult<T> | undefined;
  recv(opts?: WaitOptions): Promise<RecvResult<T>>;
}

/** The rest of a message this thread stopped receiving in its middle, or undefined if none (or its sender gave it up). */
type Finish<T> = () => Promise<RecvResult<T> | undefined>;

export class ChannelIterator<T> implements AsyncIterableIterator<T> {
  readonly #ch: Receiver<T>;
  readonly #finish: Finish<T>;
  /** Made when a receive first has to wait; aborted by `return()`. */
  #stop: AbortController | undefined;
  #over = false;
  /** next() calls not yet settled, and the last of them: a next() made meanwhile waits its turn. */
  #inFlight = 0;
  #last: Promise<IteratorResult<T>> | undefined;

  constructor(ch: Receiver<T>, finish: Finish<T> = () => Promise.resolve(undefined)) {
    this.#ch = ch;
    this.#finish = finish;
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
          if (stop.signal.aborted) {
            // return() ended the wait; one stopped inside a message finishes it, not to hold the channel
            const rest = await this.#finish();
            return rest?.ok ? { value: rest.value, done: false } : { value: undefined, done: true };
          }
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
