/**
 * `submitBatch` and `map` without a promise per item: their tasks settle into a collector, which
 * keeps outputs in arrays and wakes its one consumer.
 */
import type { Collector } from './task-queue.js';

/** Collects a fixed-size batch; resolves once all succeed, rejects on the first error. */
export class BatchCollector implements Collector {
  readonly #out: unknown[];
  #left: number;
  #done = false;

  constructor(
    n: number,
    private readonly resolve: (v: unknown[]) => void,
    private readonly reject: (e: unknown) => void,
  ) {
    this.#out = new Array(n);
    this.#left = n;
    if (n === 0) this.#finish();
  }

  #finish(): void {
    this.#done = true;
    this.resolve(this.#out);
  }

  settle(index: number, ok: boolean, value: unknown): void {
    if (this.#done) return;
    if (!ok) {
      this.#done = true;
      this.reject(value);
      return;
    }
    this.#out[index] = value;
    if (--this.#left === 0) this.#finish();
  }
}

/** Outcomes of a `map`, consumed in order or as they come. */
class MapCollector implements Collector {
  readonly values = new Map<number, { ok: boolean; value: unknown }>();
  readonly arrivals: number[] = [];
  /** Some task failed: the map ends at its error, so no input after it is worth submitting. */
  failed = false;
  #wake: (() => void) | undefined;

  constructor(private readonly ordered: boolean) {}

  settle(index: number, ok: boolean, value: unknown): void {
    this.values.set(index, { ok, value });
    if (!ok) this.failed = true;
    if (!this.ordered) this.arrivals.push(index);
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  next(): Promise<void> {
    return new Promise((r) => {
      this.#wake = r;
    });
  }
}

export async function* mapThroughPool<R>(
  inputs: Iterable<unknown> | AsyncIterable<unknown>,
  ordered: boolean,
  window: number,
  submit: (input: unknown, c: Collector, index: number) => void,
  /** Before each submit: a promise to wait on while the pool has no room (maxQueue), else undefined. */
  room?: () => Promise<void> | undefined,
  /**
   * The map ended before its last output (the consumer broke off, a task failed): its tasks still
   * out settle into `c`, and nobody reads them. The pool cancels them rather than running the rest
   * of the window for nothing (and `close()` waiting for them).
   */
  endedEarly?: (c: Collector) => void,
): AsyncGenerator<R> {
  let finished = false;
  const c = new MapCollector(ordered);
  const it =
    Symbol.asyncIterator in (inputs as object)
      ? (inputs as AsyncIterable<unknown>)[Symbol.asyncIterator]()
      : (inputs as Iterable<unknown>)[Symbol.iterator]();
  let submitted = 0;
  let yielded = 0;
  let exhausted = false;
  let arrivalRead = 0;
  try {
    for (;;) {
      // Fed until a task fails: the map throws at that error, so what would come after it only
      // delayed the error (a slow input pulled for the rest of the window first) and was cancelled.
      // A forced close fails every task at once, so the map rejects without pulling more input.
      while (!exhausted && !c.failed && submitted - yielded < window) {
        const r = await it.next();
        if (r.done) {
          exhausted = true;
          break;
        }
        // A full queue (maxQueue) is waited out, not failed: the window paces the input, not the pool.
        // Looked at again after each wait: the room seen when the wait ended may be gone by now.
        for (let wait = room?.(); wait; wait = room?.()) await wait;
        if (c.failed) break; // a task failed during the wait (it.return() in finally closes the input)
        submit(r.value, c, submitted++);
      }
      if (exhausted && yielded === submitted) {
        finished = true;
        return;
      }
      let index: number;
      if (ordered) {
        index = yielded;
        while (!c.values.has(index)) await c.next();
      } else {
        while (arrivalRead >= c.arrivals.length) await c.next();
        index = c.arrivals[arrivalRead++];
        if (arrivalRead > 1024) {
          c.arrivals.splice(0, arrivalRead);
          arrivalRead = 0;
        }
      }
      const got = c.values.get(index) as { ok: boolean; value: unknown };
      c.values.delete(index);
      yielded++;
      if (!got.ok) throw got.value;
      yield got.value as R;
    }
  } finally {
    if (!finished) endedEarly?.(c);
    // The consumer broke off (or a task failed): close the input, as for-of would.
    if (!exhausted) await it.return?.();
  }
}
