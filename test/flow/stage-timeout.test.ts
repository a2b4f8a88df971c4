// A stage's timeout (stage-timeout.ts) as a stage function sees it: its value in time, TimeoutError
// past the limit (thrown for a synchronous call, which cannot be interrupted; rejected, with the
// signal aborted, for an asynchronous one), and the task's abort passed on. The signal is made only
// if read: on Node 20 an AbortController per item per stage cost more than the stage.
import { getEventListeners } from 'node:events';
import { callTimed, TimeoutError } from 'skein/internal';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

const Real = globalThis.AbortController;
let made = 0;
beforeEach(() => {
  made = 0;
  globalThis.AbortController = class extends Real {
    constructor() {
      super();
      made++;
    }
  };
});
afterEach(() => {
  globalThis.AbortController = Real;
});

function task(): { ctx: { signal: AbortSignal; workerId: number }; abort: (r: unknown) => void } {
  const c = new Real();
  return { ctx: { signal: c.signal, workerId: 7 }, abort: (r) => c.abort(r) };
}

const busy = (ms: number): void => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

describe('callTimed', () => {
  it('returns a synchronous value in time, making no signal nor timer', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { ctx } = task();
      let seen: unknown;
      expect(
        callTimed(50, ctx, (v, c) => {
          seen = c.workerId;
          return (v as number) + 1;
        }, 1),
      ).toBe(2);
      expect(seen).toBe(7);
      expect(made).toBe(0);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('starts a timer only for a call that returns a promise, and clears it when the call settles', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { ctx } = task();
      let settle: (v: unknown) => void = () => {};
      const call = callTimed(2 ** 40, ctx, () => new Promise((r) => (settle = r)), 0); // past setTimeout's range
      expect(vi.getTimerCount()).toBe(1);
      settle('done');
      await expect(call).resolves.toBe('done');
      expect(vi.getTimerCount()).toBe(0);
      expect(made).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a synchronous call that ran over throws TimeoutError; one that threw keeps its error', () => {
    const { ctx } = task();
    expect(() => callTimed(5, ctx, () => busy(20), 0)).toThrow(TimeoutError);
    expect(() =>
      callTimed(5, ctx, () => {
        throw new RangeError('bad');
      }, 0),
    ).toThrow(RangeError);
  });

  it('an asynchronous call in time resolves; a late one rejects with TimeoutError and its signal aborts', async () => {
    const { ctx } = task();
    await expect(callTimed(200, ctx, async (v) => v, 'ok')).resolves.toBe('ok');
    let signal: AbortSignal | undefined;
    const stuck = callTimed(20, ctx, (_v, c) => {
      signal = c.signal;
      return new Promise(() => {});
    }, 0);
    await expect(stuck).rejects.toThrow(TimeoutError);
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBeInstanceOf(TimeoutError);
    expect(getEventListeners(ctx.signal, 'abort')).toHaveLength(0); // it stopped following the task
  });

  it('a signal first read after the time ran out is born aborted', async () => {
    const { ctx } = task();
    let late: AbortSignal | undefined;
    const call = callTimed(10, ctx, (_v, c) => new Promise((r) => setTimeout(() => r((late = c.signal)), 40)), 0);
    await expect(call).rejects.toThrow(TimeoutError);
    await new Promise((r) => setTimeout(r, 50));
    expect(late?.aborted).toBe(true);
    expect(late?.reason).toBeInstanceOf(TimeoutError);
  });

  it("passes the task's abort on to a running call, before or after it read its signal", async () => {
    const a = task();
    let signal: AbortSignal | undefined;
    const running = callTimed(1000, a.ctx, (_v, c) => {
      signal = c.signal;
      return new Promise((_r, reject) => c.signal.addEventListener('abort', () => reject(c.signal.reason)));
    }, 0);
    a.abort(new RangeError('stop'));
    await expect(running).rejects.toThrow(RangeError);
    expect(signal?.reason).toBeInstanceOf(RangeError);
    const b = task();
    b.abort(new RangeError('already'));
    expect(callTimed(1000, b.ctx, (_v, c) => c.signal.aborted, 0)).toBe(true);
  });
});
