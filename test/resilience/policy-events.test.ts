// Events on every policy, in cockatiel's shape: onX(listener) -> { dispose() }.
import { Bulkhead, BulkheadRejectedError, CircuitBreaker, RetryPolicy, Timeout, TimeoutError, type TimeoutSignal } from 'skein';
import { describe, expect, it, vi } from 'vitest';

const fail = (msg: string) => () => Promise.reject(new Error(msg));

describe('RetryPolicy events', () => {
  it('onRetry fires before each wait with the failed try, the delay and the error; onGiveUp once', async () => {
    const retry = new RetryPolicy({ maxAttempts: 3, backoff: 'fixed', initialDelay: 1 });
    const retries: { attempt: number; delay: number; error: unknown }[] = [];
    const gaveUp: unknown[] = [];
    retry.onRetry((e) => retries.push(e));
    retry.onGiveUp((e) => gaveUp.push(e));
    await expect(retry.execute(fail('boom'))).rejects.toThrow('boom');
    expect(retries.map((r) => r.attempt)).toEqual([1, 2]);
    expect(retries.every((r) => r.delay === 1 && (r.error as Error).message === 'boom')).toBe(true);
    expect(gaveUp).toEqual([expect.objectContaining({ attempts: 3, reason: 'attempts' })]);
  });

  it('a refusal by retryIf gives up with reason retryIf; dispose() removes a listener', async () => {
    const retry = new RetryPolicy({ maxAttempts: 5, initialDelay: 1, retryIf: () => false });
    const seen: string[] = [];
    const sub = retry.onGiveUp((e) => seen.push(e.reason));
    await expect(retry.execute(fail('x'))).rejects.toThrow('x');
    sub.dispose();
    sub.dispose();
    await expect(retry.execute(fail('y'))).rejects.toThrow('y');
    expect(seen).toEqual(['retryIf']);
  });

  it('a listener that throws does not change the outcome of the call', async () => {
    const retry = new RetryPolicy({ maxAttempts: 2, backoff: 'fixed', initialDelay: 1 });
    const onError = vi.fn();
    process.on('uncaughtException', onError);
    try {
      retry.onRetry(() => {
        throw new Error('listener bug');
      });
      let n = 0;
      await expect(retry.execute(() => (++n === 1 ? Promise.reject(new Error('once')) : 'ok'))).resolves.toBe('ok');
      await new Promise((r) => setTimeout(r, 10));
      expect(onError).toHaveBeenCalledTimes(1);
    } finally {
      process.off('uncaughtException', onError);
    }
  });
});

describe('Timeout events and callback shape', () => {
  it('fn gets the signal, which also carries itself as .signal; onTimeout fires with ms', async () => {
    const t = new Timeout(20);
    const fired: number[] = [];
    t.onTimeout(({ ms }) => fired.push(ms));
    let asArg: TimeoutSignal | undefined;
    let destructured: AbortSignal | undefined;
    await t.execute((signal) => {
      asArg = signal;
      return 1;
    });
    await t.execute(({ signal }) => {
      destructured = signal;
      return 2;
    });
    expect(asArg).toBeInstanceOf(AbortSignal);
    expect(asArg?.signal).toBe(asArg);
    expect(destructured).toBeInstanceOf(AbortSignal);
    expect(fired).toEqual([]);
    await expect(t.execute(({ signal }) => new Promise((r) => signal.addEventListener('abort', r)))).rejects.toThrow(
      TimeoutError,
    );
    expect(fired).toEqual([20]);
  });
});

describe('Bulkhead events', () => {
  it('onReject fires when line and slots are full', async () => {
    const b = new Bulkhead({ maxConcurrent: 1, maxQueue: 0 });
    const rejects: string[] = [];
    b.onReject((e) => rejects.push(`${e.reason}:${e.active}:${e.queued}`));
    let release!: () => void;
    const running = b.execute(() => new Promise<void>((r) => (release = r)));
    await expect(b.execute(() => 1)).rejects.toThrow(BulkheadRejectedError);
    release();
    await running;
    expect(rejects).toEqual(['full:1:0']);
  });
});

describe('CircuitBreaker events', () => {
  it('onBreak, onHalfOpen and onReset follow the state; each subscription disposes alone', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 2, resetTimeout: 30 });
    const seen: string[] = [];
    const subs = [
      breaker.onBreak((e) => seen.push(`break:${e.from}`)),
      breaker.onHalfOpen(() => seen.push('half-open')),
      breaker.onReset(() => seen.push('reset')),
    ];
    const all: string[] = [];
    const sub = breaker.onStateChange((e) => all.push(e.to));
    for (let i = 0; i < 2; i++) await expect(breaker.execute(fail('down'))).rejects.toThrow('down');
    await vi.waitFor(() => expect(seen).toEqual(['break:closed']));
    await new Promise((r) => setTimeout(r, 40));
    await breaker.execute(() => 'probe ok');
    await vi.waitFor(() => expect(seen).toEqual(['break:closed', 'half-open', 'reset']));
    expect(all).toEqual(['open', 'half-open', 'closed']);
    for (const s of subs) s.dispose();
    sub.dispose();
    breaker.forceOpen();
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toHaveLength(3);
  });
});
