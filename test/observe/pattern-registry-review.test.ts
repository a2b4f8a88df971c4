// PatternRegistry: cases found by a review (helper-reg), each failed before its fix.
import { CircuitBreaker, LeakyBucket, PatternRegistry, Pipeline, type ProtectiveEvent, SlidingWindowLimiter, TokenBucket } from 'skein';
import { describe, expect, it } from 'vitest';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

function protective(): { r: PatternRegistry; events: ProtectiveEvent[] } {
  const r = new PatternRegistry({ protective: { openBreakers: 1, keep: 0.5 } });
  const events: ProtectiveEvent[] = [];
  r.on('protective', (e: ProtectiveEvent) => events.push(e));
  return { r, events };
}

describe('PatternRegistry protective mode, pipelines', () => {
  it('a pipeline lowered while it is still being built takes its next stages, and runs lowered', async () => {
    const { r } = protective();
    let now = 0;
    let most = 0;
    const slow = async (x: number): Promise<number> => {
      most = Math.max(most, ++now);
      await new Promise((res) => setTimeout(res, 2));
      now--;
      return x;
    };
    const p = new Pipeline<number>().stage<number>('a', { run: slow }, { concurrency: 8 });
    r.register(p, { name: 'pipe' });
    const cb = new CircuitBreaker();
    cb.forceOpen();
    r.register(cb, { name: 'cb', guards: ['pipe/a'] });
    // Threw 'a pipeline cannot take stages after it has run': lowering compiled it, and for good.
    const built = p.stage<number>('b', { run: (x: number) => x + 1 });
    expect(p.stageConcurrency('a')).toEqual({ configured: 8, current: 4 });
    expect(await built.processBatch(range(32))).toEqual(range(32).map((i) => i + 1));
    expect(most).toBe(4); // the limit set before the first run holds in it
    cb.forceClose();
    expect(p.stageConcurrency('a').current).toBe(8);
    r.unregister('cb');
  });

  it("a guard names the stage of a pipeline whose name has a slash ('etl/v2/a')", () => {
    const { r, events } = protective();
    const p = new Pipeline<number>().stage<number>('a', { run: (x: number) => x }, { concurrency: 8 });
    r.register(p, { name: 'etl/v2' });
    const cb = new CircuitBreaker();
    r.register(cb, { name: 'cb', guards: ['etl/v2/a'] });
    cb.forceOpen();
    expect(events[0]).toMatchObject({ state: 'on', stages: [{ name: 'etl/v2/a', from: 8, to: 4 }] }); // was stages: [], nothing lowered
    expect(p.stageConcurrency('a').current).toBe(4);
    cb.forceClose();
    expect(p.stageConcurrency('a').current).toBe(8);
    r.unregister('cb');
  });

  it('unregistering what the mode lowered restores it with a restored event', () => {
    const { r, events } = protective();
    const p = new Pipeline<number>().stage<number>('a', { run: (x: number) => x }, { concurrency: 8 });
    r.register(p, { name: 'pipe' });
    const cb = new CircuitBreaker();
    r.register(cb, { name: 'cb', guards: ['pipe/a'] });
    cb.forceOpen();
    r.unregister('pipe');
    expect(p.stageConcurrency('a').current).toBe(8);
    // The restore was silent: a listener saw pipe/a lowered and never back.
    expect(events[1]).toEqual({ state: 'restored', open: ['cb'], pools: [], stages: [{ name: 'pipe/a', from: 4, to: 8 }] });
    cb.forceClose();
    expect(events.map((e) => e.state)).toEqual(['on', 'restored', 'off']);
    r.unregister('cb');
  });
});

describe('PatternRegistry.getGlobalMetrics', () => {
  it('one object whose metrics() throws once closed does not hide the others', () => {
    const r = new PatternRegistry();
    let closed = false;
    const conn = {
      metrics: (): { open: boolean } => {
        if (closed) throw new Error('connection closed');
        return { open: true };
      },
      close: (): void => {
        closed = true;
      },
    };
    r.register(conn, { name: 'conn' });
    const cb = new CircuitBreaker();
    r.register(cb, { name: 'cb' });
    conn.close();
    const m = r.getGlobalMetrics(); // threw 'connection closed'
    expect(m.cb.metrics).toMatchObject({ failureRate: 0 });
    expect(m.conn).toMatchObject({ kind: 'other', metrics: undefined, error: { message: 'connection closed' } });
  });
});

describe('PatternRegistry.getGlobalMetrics for limiters', () => {
  it("reports each limiter kind's own figures (LeakyBucket and SlidingWindowLimiter read available: undefined)", () => {
    const r = new PatternRegistry();
    const token = new TokenBucket({ capacity: 5, refillPerSecond: 10 });
    const leaky = new LeakyBucket({ capacity: 4, leakPerSecond: 2 });
    const window = new SlidingWindowLimiter({ limit: 3, windowMs: 1000 });
    r.register(token, { name: 'token' });
    r.register(leaky, { name: 'leaky' });
    r.register(window, { name: 'window' });
    expect(r.list().map((e) => e.kind)).toEqual(['limiter', 'limiter', 'limiter']);
    expect(leaky.tryAcquire()).toBe(true);
    const m = r.getGlobalMetrics();
    expect(m.token.metrics).toMatchObject({ capacity: 5, refillPerSecond: 10 });
    expect((m.token.metrics as { available: number }).available).toBeGreaterThan(4);
    expect(m.leaky.metrics).toMatchObject({ capacity: 4, leakPerSecond: 2 });
    expect((m.leaky.metrics as { level: number }).level).toBeGreaterThan(0.5);
    expect(m.window.metrics).toEqual({ limit: 3, windowMs: 1000 });
    for (const k of ['leaky', 'window']) expect(m[k].metrics).not.toHaveProperty('available');
  });
});
