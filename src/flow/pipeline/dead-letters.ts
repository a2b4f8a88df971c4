/**
 * Where a pipeline's dead letters go. The rules (also in Pipeline's TSDoc):
 *
 * 1. `onDeadLetter` given: each dead letter is passed to it at once; nothing is kept. If it returns a
 *    promise, its run ends only once that has settled, and fails with its rejection as with a throw
 *    (the promise was dropped: a rejection crashed the process as unhandled, and a run could end
 *    while a letter was still being saved).
 * 2. Otherwise, once `pipeline.deadLetters` has been read (the getter, before or during a run), dead
 *    letters are queued for its iterators until read, never blocking the pipeline (so reading the
 *    output first and the dead letters after cannot deadlock). The iteration ends when the queue is
 *    empty and no run is active, once a run has been made: one that begins before the first run
 *    waits for it (start the reader, then the run, then await both). A run made and never read
 *    keeps the iteration open, as it keeps its letters to come, until it is garbage-collected (one
 *    its consumer dropped, never read or left mid-way: it has no letters to come). An iterator
 *    that is stopped (`return()`: a `break` out of its `for await`) ends. Once every iterator made
 *    has ended, stopped so or run out (its loop finished after the runs ended), later letters
 *    follow rule 3 again until the getter is read anew or an iterator is made again (a reader that
 *    left must not leave every later failure queued for nobody); a getter read that no iterator
 *    has been made from yet keeps them queued for it. After `close()` the iteration ends once the
 *    queue is empty, whatever runs were made.
 * 3. Otherwise nobody receives them: the run counts them and keeps only the first, and its output
 *    iteration throws UnhandledDeadLettersError after the last output. Unread failures are never
 *    lost silently and never held in memory.
 */
import { Fifo } from '../../memory/fifo.js';
import { isThenable } from '../../memory/thenable.js';
import type { DeadLetter } from '../errors.js';

export class DeadLetterSink {
  readonly #onDeadLetter: ((letter: DeadLetter) => unknown) | undefined;
  #wanted = false;
  readonly #queue = new Fifo<DeadLetter>();
  #waiters: (() => void)[] = [];
  /** Runs made (processStream, process) and not yet ended. */
  #activeRuns = 0;
  #anyRun = false;
  /** Pipeline.close() was called: no run delivers letters any more. */
  #closed = false;
  /** Iterators made and neither stopped nor ended. */
  #readers = 0;
  /** The getter was read since the last iterator was made: someone means to read, keep queuing. */
  #unclaimed = false;

  constructor(onDeadLetter?: (letter: DeadLetter) => unknown) {
    this.#onDeadLetter = onDeadLetter;
  }

  /**
   * Delivers `letter`: true if received, false if nobody receives dead letters (rule 3), or the
   * promise `onDeadLetter` returned (rule 1: the run waits for it). May throw what the callback threw.
   */
  deliver(letter: DeadLetter): boolean | PromiseLike<unknown> {
    if (this.#onDeadLetter) {
      const r = this.#onDeadLetter(letter);
      return isThenable(r) ? r : true;
    }
    if (!this.#wanted) return false;
    this.#queue.push(letter);
    this.#wake();
    return true;
  }

  /** A run was made: its letters go to the iterators until it ends. */
  runMade(): void {
    this.#activeRuns++;
    this.#anyRun = true;
  }

  /** A run ended: an iterator waiting on an empty queue may now be done. */
  runEnded(): void {
    this.#activeRuns--;
    this.#wake();
  }

  /**
   * The pipeline was closed: its runs stop at once and deliver no more letters (one made but never
   * read, or left mid-way without return(), ends only once collected), so iterators end once the
   * queue is empty.
   */
  closed(): void {
    this.#closed = true;
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  iterable(): AsyncIterable<DeadLetter> {
    this.#wanted = true;
    this.#unclaimed = true;
    return {
      [Symbol.asyncIterator]: (): AsyncIterator<DeadLetter> => {
        this.#readers++;
        this.#wanted = true; // an iterable kept from an earlier getter read is read again
        this.#unclaimed = false;
        let over = false;
        // The reader ended (stopped or ran out): once no reader is left and no getter read waits
        // for its iterator, letters go back to their runs (rule 3) rather than into a queue nobody
        // reads.
        const finish = (): void => {
          if (over) return;
          over = true;
          this.#readers--;
          if (this.#readers === 0 && !this.#unclaimed) this.#wanted = false;
        };
        return {
          next: async (): Promise<IteratorResult<DeadLetter>> => {
            for (;;) {
              if (over) return { value: undefined, done: true };
              if (this.#queue.length > 0) return { value: this.#queue.shift(), done: false };
              if ((this.#activeRuns === 0 && this.#anyRun) || this.#closed) {
                finish();
                return { value: undefined, done: true };
              }
              await new Promise<void>((r) => this.#waiters.push(r));
            }
          },
          // The reader left: it ends (a next() of it still waiting too).
          return: async (): Promise<IteratorResult<DeadLetter>> => {
            if (!over) {
              finish();
              this.#wake();
            }
            return { value: undefined, done: true };
          },
        };
      },
    };
  }
}
