import { AbortError, Bulkhead, BulkheadRejectedError, InvalidArgumentError } from 'skein';
import { afterEach, describe, expect, it, vi } from 'vitest';

afterEach(() => {
  vi.useRealTimers();
});

/** A call that runs until its `open()` is called. */
function gate<T>(value: T) {
  let open!: () => void;
  const ready = new Promise<void>((r) => (open = r));
  return {
    open,
    fn: async () => {
      await ready;
      return value;
    },
  };
}

describe('Bulkhead', () => {
  it.each([
    [{ maxConcurrent: 0 }],
    [{ maxConcurrent: 1.5 }],
    [{ maxConcurrent: 1, maxQueue: -1 }],
    [{ maxConcurrent: 1, maxWait: -1 }],
    [{}],
  ])('rejects %j with InvalidArgumentError', (opts) => {
    expect(() => new Bulkhead(opts as never)).toThrow(InvalidArgumentError);
  });

  it('runs at most maxConcurrent at once, queues up to maxQueue in FIFO order, rejects the rest', async () => {
    const b = new Bulkhead({ maxConcurrent: 2, maxQueue: 2 });
    const order: string[] = [];
    const gates = ['a', 'b', 'c', 'd'].map((n) => gate(n));
    const runs = gates.map((g, i) =>
      b.execute(async () => {
        order.push(`start ${i}`);
        return g.fn();
      }),
    );
    expect(b.active).toBe(2);
    expect(b.queued).toBe(2);
    await expect(b.execute(() => 'e')).rejects.toBeInstanceOf(BulkheadRejectedError);
    gates[1].open();
    await runs[1];
    expect(order).toEqual(['start 0', 'start 1', 'start 2']);
    gates[0].open();
    await runs[0];
    expect(order.at(-1)).toBe('start 3');
    expect(b.active).toBe(2);
    gates[2].open();
    gates[3].open();
    expect(await Promise.all(runs)).toEqual(['a', 'b', 'c', 'd']);
    expect(b.active).toBe(0);
    expect(b.queued).toBe(0);
  });

  it('frees the slot when fn throws', async () => {
    const b = new Bulkhead({ maxConcurrent: 1 });
    await expect(
      b.execute(() => {
        throw new Error('x');
      }),
    ).rejects.toThrow('x');
    expect(await b.execute(() => 2)).toBe(2);
  });

  it('rejects a call that waited past maxWait and takes it out of the line', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const b = new Bulkhead({ maxConcurrent: 1, maxQueue: 5, maxWait: 100 });
    const g = gate(1);
    const first = b.execute(g.fn);
    const waiting = b.execute(vi.fn());
    const caught = waiting.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    expect(await caught).toBeInstanceOf(BulkheadRejectedError);
    expect(b.queued).toBe(0);
    g.open();
    await first;
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a maxWait past 2^31 - 1 ms (what one setTimeout holds) is kept, not cut to 1 ms', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const maxWait = 2 ** 31 + 1000;
    const b = new Bulkhead({ maxConcurrent: 1, maxQueue: 1, maxWait });
    const g = gate(1);
    const first = b.execute(g.fn);
    const waiting = b.execute(() => 2);
    let outcome: unknown = 'pending';
    waiting.then(
      (v) => (outcome = v),
      (e: unknown) => (outcome = e),
    );
    await vi.advanceTimersByTimeAsync(maxWait - 1);
    expect(outcome).toBe('pending');
    expect(b.queued).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(outcome).toBeInstanceOf(BulkheadRejectedError);
    expect(b.queued).toBe(0);
    // A waiter let in before maxWait leaves no timer behind.
    const next = b.execute(() => 3);
    await vi.advanceTimersByTimeAsync(2 ** 31);
    g.open();
    expect(await first).toBe(1);
    expect(await next).toBe(3);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('an aborted waiter leaves from the middle of the line; the others keep their order', async () => {
    const b = new Bulkhead({ maxConcurrent: 1, maxQueue: 3 });
    const g = gate(0);
    const first = b.execute(g.fn);
    const order: number[] = [];
    const ac = new AbortController();
    const w1 = b.execute(() => order.push(1));
    const w2 = b.execute(() => order.push(2), { signal: ac.signal });
    const w3 = b.execute(() => order.push(3));
    ac.abort();
    await expect(w2).rejects.toBeInstanceOf(AbortError);
    expect(b.queued).toBe(2);
    g.open();
    await Promise.all([first, w1, w3]);
    expect(order).toEqual([1, 3]);
  });

  it('holds a long line with O(1) queue operations', async () => {
    const b = new Bulkhead({ maxConcurrent: 1, maxQueue: Number.POSITIVE_INFINITY });
    const n = 100_000;
    let done = 0;
    const t0 = performance.now();
    const all = Array.from({ length: n }, () => b.execute(() => done++));
    expect(b.queued).toBe(n - 1);
    await Promise.all(all);
    expect(done).toBe(n);
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});
