import { Worker } from 'node:worker_threads';
import { BrokenCircuitError, CircuitBreaker, type StateChangeEvent } from 'skein';
import { afterEach, describe, expect, it, vi } from 'vitest';

// Real worker threads over one breaker's shared memory: no fakes here.
const FIXTURE = new URL('../fixtures/breaker-worker.mjs', import.meta.url);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Peer {
  rpc(op: string, args?: Record<string, unknown>): Promise<unknown>;
  send(op: string, args?: Record<string, unknown>): Promise<unknown>;
  events: StateChangeEvent[];
  worker: Worker;
}

const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
});

async function spawn(breaker: CircuitBreaker, flags?: SharedArrayBuffer): Promise<Peer> {
  const worker = new Worker(FIXTURE, { workerData: { breaker, flags } });
  workers.push(worker);
  await new Promise((resolve, reject) => {
    worker.once('online', resolve);
    worker.once('error', reject);
  });
  const pending = new Map<
    number,
    (m: { ok: boolean; value?: unknown; name?: string; message?: string }) => void
  >();
  const events: StateChangeEvent[] = [];
  let next = 0;
  worker.on('message', (m) => {
    if (m.event) events.push(m.event);
    else pending.get(m.id)?.(m);
  });
  const send = (op: string, args: Record<string, unknown> = {}) =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, (m) => (m.ok ? resolve(m.value) : reject(new Error(`${m.name}: ${m.message}`))));
      worker.postMessage({ id, op, ...args });
    });
  return { rpc: send, send, events, worker };
}

describe('CircuitBreaker across threads', () => {
  it('opened by failures in one worker, it refuses calls in another worker and in the main thread; listeners everywhere hear it', async () => {
    const b = new CircuitBreaker({ failureThreshold: 3, resetTimeout: 60_000 });
    const mainEvents: StateChangeEvent[] = [];
    b.on('stateChange', (e) => mainEvents.push(e));
    const w1 = await spawn(b);
    const w2 = await spawn(b);
    await w2.rpc('listen');
    expect(await w2.rpc('call')).toBe('ok');

    expect(await w1.rpc('fail', { n: 3 })).toBe('open');
    expect(b.state).toBe('open');
    // Opened in the worker, read here in epoch ms (Date.now()'s clock), as a user reads them.
    const { openedAt, nextAttemptAt } = b.metrics();
    expect(Math.abs((openedAt ?? 0) - Date.now())).toBeLessThan(5000);
    expect(nextAttemptAt! - openedAt!).toBeCloseTo(60_000, 3);
    // The main thread's watcher (Atomics.waitAsync on the state word) reports it before any call here.
    await vi.waitFor(() => expect(mainEvents).toEqual([{ from: 'closed', to: 'open' }]), { timeout: 5000 });
    await vi.waitFor(() => expect(w2.events).toEqual([{ from: 'closed', to: 'open' }]), { timeout: 5000 });
    expect(await w2.rpc('call')).toBe('BrokenCircuitError');
    await expect(b.execute(() => 'main')).rejects.toBeInstanceOf(BrokenCircuitError);
    expect(b.metrics()).toMatchObject({ successes: 1, failures: 3, rejected: 2 });

    b.reset(); // a transition made by the main thread reaches the worker's listener too
    await vi.waitFor(() => expect(w2.events.at(-1)).toEqual({ from: 'open', to: 'closed' }), {
      timeout: 5000,
    });
    expect(await w1.rpc('call')).toBe('ok');
  });

  it('recovers when its half-open probe ran on a thread that was terminated', async () => {
    // halfOpenTimeout is the window from the worker's admission to our refused call below (a reply,
    // and a terminate): 400 ms was not always enough on a loaded machine, and the lost probe then
    // already counted as failed. The regression (half-open for good) still shows at any length.
    const b = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 50, halfOpenTimeout: 3000 });
    await b.execute(() => Promise.reject(new Error('down'))).catch(() => {});
    expect(b.state).toBe('open');
    await sleep(80);
    const w = await spawn(b);
    expect(await w.rpc('hang')).toBe('admitted'); // the worker holds the one probe...
    expect(b.state).toBe('half-open');
    await w.worker.terminate(); // ...and dies with it
    await expect(b.execute(() => 'main')).rejects.toBeInstanceOf(BrokenCircuitError);
    // Past halfOpenTimeout the lost probe counts as failed: open again, then a new probe closes it.
    // Before the fix it stayed half-open and refused every call.
    await vi.waitFor(
      async () => {
        expect(await b.execute(() => 'main').catch((err: Error) => err.name)).toBe('main');
      },
      { timeout: 10_000, interval: 50 },
    );
    expect(b.state).toBe('closed');
  });

  it('honors, in the main thread, the open time a worker set (one clock for all threads)', async () => {
    // resetTimeout bounds the worker's reply and our call: at 150 ms a loaded machine let our call
    // through as the probe. An open time read here on another clock than the worker's, off by
    // more than a second either way, still shows: our first call let through, or the probe refused.
    const b = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 1000 });
    const w = await spawn(b);
    expect(await w.rpc('fail', { n: 1 })).toBe('open');
    await expect(b.execute(() => 1)).rejects.toBeInstanceOf(BrokenCircuitError);
    await sleep(1100);
    expect(await b.execute(() => 'probe')).toBe('probe');
    expect(b.state).toBe('closed');
    expect(await w.rpc('call')).toBe('ok');
  });

  // Racers: `peers` workers and the main thread, for `probes` probe slots; the rest are refused.
  it.each([
    { probes: 1, peers: 2 },
    { probes: 2, peers: 3 },
  ])('half-open admits exactly $probes probe(s) among $peers workers and the main thread racing', async ({ probes, peers: n }) => {
    const b = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 30, halfOpenMaxCalls: probes });
    const flags = new SharedArrayBuffer(8);
    const f = new Int32Array(flags);
    const peers = await Promise.all(Array.from({ length: n }, () => spawn(b, flags)));
    await b.execute(() => Promise.reject(new Error('x'))).catch(() => {});
    await sleep(50);
    const results = peers.map((p) => p.send('race'));
    await sleep(20); // every worker asleep on flags[0]
    Atomics.store(f, 0, 1);
    Atomics.notify(f, 0);
    const mine = b
      .execute(async () => {
        const w = Atomics.waitAsync(f, 1, 0);
        if (w.async) await w.value;
      })
      .then(
        () => 'admitted',
        (err: Error) => err.name,
      );
    // Every refused racer answers at once; the admitted probes wait for flags[1].
    const refused = n + 1 - probes;
    await vi.waitFor(() => expect(b.metrics().rejected).toBe(refused), { timeout: 5000 });
    expect(b.state).toBe('half-open');
    expect(b.metrics().halfOpenProbes).toBe(probes);
    Atomics.store(f, 1, 1);
    Atomics.notify(f, 1);
    const all = await Promise.all([...results, mine]);
    expect(all.filter((r) => r === 'admitted')).toHaveLength(probes);
    expect(all.filter((r) => r === 'BrokenCircuitError')).toHaveLength(refused);
    expect(b.state).toBe('closed'); // every probe succeeded
  });

  it('functions stay in their thread: a worker may give its own isFailure through from()', async () => {
    const b = new CircuitBreaker({ failureThreshold: 2 });
    const w = await spawn(b);
    expect(await w.rpc('failIgnored', { n: 5 })).toBe('closed');
    expect(b.metrics()).toMatchObject({ ignored: 5, failures: 0 });
    expect(await w.rpc('fail', { n: 2 })).toBe('open'); // the worker's default classifier again
  });

  it('keeps its count window consistent under calls from three threads at once', async () => {
    const size = 50;
    const b = new CircuitBreaker({
      failureRateThreshold: 1,
      window: { kind: 'count', size },
      minimumCalls: size,
    });
    const peers = await Promise.all([spawn(b), spawn(b)]);
    const n = 20_000;
    const mainHammer = async () => {
      const r = { s: 0, f: 0, r: 0 };
      for (let i = 0; i < n; i++) {
        try {
          await b.execute(() => {
            if (i % 3 === 0) throw new Error('hammer');
          });
          r.s++;
        } catch {
          r.f++;
        }
      }
      return r;
    };
    const all = (await Promise.all([
      ...peers.map((p) => p.rpc('hammer', { n, failEvery: 3 })),
      mainHammer(),
    ])) as { s: number; f: number; r: number }[];
    const s = all.reduce((a, r) => a + r.s, 0);
    const f = all.reduce((a, r) => a + r.f, 0);
    expect(all.reduce((a, r) => a + r.r, 0)).toBe(0);
    const m = b.metrics();
    expect(m).toMatchObject({ successes: s, failures: f, rejected: 0, windowCalls: size, state: 'closed' });
    expect(s + f).toBe(3 * n);
    // Were any ring update lost or doubled under the races, the aggregates would not return to 0.
    for (let i = 0; i < size; i++) await b.execute(() => 1);
    expect(b.metrics()).toMatchObject({ windowCalls: size, windowFailures: 0 });
  });
});
