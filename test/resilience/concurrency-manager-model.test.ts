import fc from 'fast-check';
import { ConcurrencyManager, type ConcurrencyPermit, now } from 'skein/internal';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// Model-based test: fast-check drives a ConcurrencyManager and a plain sequential model through the
// same commands (acquires at random priorities and leases, tryAcquire, releases, late releases,
// aborts, clock steps that expire leases) and checks after each that both agree on exactly which
// acquires hold a permit, wait or were refused, and that no more than maxConcurrency are held.
// The clock is fake (process.hrtime), so aging and leases are deterministic.

interface Waiter {
  id: number;
  priority: number;
  ticket: number;
  enq: number;
  lease: number;
}
interface Model {
  max: number;
  queueLimit: number;
  fair: boolean;
  aging: number;
  ticket: number;
  holders: Map<number, number>; // id -> lease expiry
  queue: Waiter[];
  state: Map<number, 'pending' | 'granted' | 'rejected' | 'done'>;
  nextId: number;
}
interface Real {
  m: ConcurrencyManager;
  state: Map<number, 'pending' | 'granted' | 'rejected'>;
  permits: Map<number, ConcurrencyPermit>;
  aborts: Map<number, AbortController>;
}

async function settle(): Promise<void> {
  for (let i = 0; i < 4; i++) await new Promise((r) => setImmediate(r));
}

/** The model's choice of the next waiter: highest (aged) priority, then oldest ticket. */
function best(m: Model, t: number): number {
  let bi = -1;
  let be = 0;
  m.queue.forEach((w, i) => {
    const eff = m.fair ? Math.min(10, w.priority + Math.floor((t - w.enq) / m.aging)) : w.priority;
    if (bi < 0 || eff > be || (eff === be && w.ticket < m.queue[bi].ticket)) {
      bi = i;
      be = eff;
    }
  });
  return bi;
}

/** A permit is given up at `t`: the model hands it to its best waiter, or frees it. */
function vacate(m: Model, t: number): void {
  const i = best(m, t);
  if (i < 0) return;
  const [w] = m.queue.splice(i, 1);
  m.holders.set(w.id, t + w.lease);
  m.state.set(w.id, 'granted');
}

function compare(m: Model, r: Real): void {
  for (const [id, s] of m.state) {
    const real = r.state.get(id);
    expect(`${id}:${real === 'granted' && !r.permits.get(id)?.held ? 'done' : real}`).toBe(`${id}:${s}`);
  }
  expect(r.m.inUse).toBe(m.holders.size);
  expect(r.m.queued).toBe(m.queue.length);
  expect(m.holders.size).toBeLessThanOrEqual(m.max);
  let held = 0;
  for (const p of r.permits.values()) if (p.held) held++;
  expect(held).toBeLessThanOrEqual(m.max);
}

class Acquire implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly priority: number,
    readonly lease: number,
    readonly wait: boolean,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const id = m.nextId++;
    const t = now();
    if (m.holders.size < m.max && m.queue.length === 0) {
      m.holders.set(id, t + this.lease);
      m.state.set(id, 'granted');
    } else if (!this.wait || m.queue.length >= m.queueLimit) {
      m.state.set(id, 'rejected');
    } else {
      m.queue.push({ id, priority: this.priority, ticket: m.ticket++, enq: t, lease: this.lease });
      m.state.set(id, 'pending');
    }
    r.state.set(id, 'pending');
    if (!this.wait) {
      const p = r.m.tryAcquire({ priority: this.priority, lease: this.lease });
      r.state.set(id, p ? 'granted' : 'rejected');
      if (p) r.permits.set(id, p);
    } else {
      const ac = new AbortController();
      r.aborts.set(id, ac);
      r.m.acquire({ priority: this.priority, lease: this.lease, signal: ac.signal }).then(
        (p) => {
          r.state.set(id, 'granted');
          r.permits.set(id, p);
        },
        () => r.state.set(id, 'rejected'),
      );
    }
    await settle();
    compare(m, r);
  }
  toString(): string {
    return `${this.wait ? 'acquire' : 'tryAcquire'}(p${this.priority}, lease ${this.lease})`;
  }
}

class Release implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pick: number) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    // Any permit ever granted, held or not: releasing a released or reclaimed one is a no-op.
    const ids = [...r.permits.keys()].sort((a, b) => a - b);
    if (ids.length === 0) return;
    const id = ids[this.pick % ids.length];
    if (m.holders.delete(id)) {
      m.state.set(id, 'done');
      vacate(m, now());
    }
    r.permits.get(id)?.release();
    await settle();
    compare(m, r);
  }
  toString(): string {
    return `release(#${this.pick})`;
  }
}

class Abort implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pick: number) {}
  check(m: Readonly<Model>): boolean {
    return m.queue.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const [w] = m.queue.splice(this.pick % m.queue.length, 1);
    m.state.set(w.id, 'rejected');
    r.aborts.get(w.id)?.abort();
    await settle();
    compare(m, r);
  }
  toString(): string {
    return `abort(#${this.pick})`;
  }
}

class Step implements fc.AsyncCommand<Model, Real> {
  constructor(readonly ms: number) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    vi.advanceTimersByTime(this.ms);
    const t = now();
    const expired = [...m.holders].filter(([, e]) => e <= t);
    for (const [id] of expired) {
      m.holders.delete(id);
      m.state.set(id, 'done');
    }
    for (let k = 0; k < expired.length; k++) vacate(m, t);
    expect(r.m.reclaimExpired()).toBe(expired.length);
    await settle();
    compare(m, r);
  }
  toString(): string {
    return `+${this.ms}ms`;
  }
}

const acquire = (wait: boolean) =>
  fc
    .tuple(fc.integer({ min: 1, max: 10 }), fc.constantFrom(50, 100, 250, Number.POSITIVE_INFINITY))
    .map(([p, lease]) => new Acquire(p, lease, wait));

// Weighted towards waiting acquires, so that queues form and grants have choices to make.
const commands = fc.commands(
  [
    acquire(true),
    acquire(true),
    acquire(true),
    acquire(false),
    fc.nat().map((k) => new Release(k)),
    fc.nat().map((k) => new Release(k)),
    fc.nat().map((k) => new Abort(k)),
    fc.constantFrom(10, 40, 100, 300).map((ms) => new Step(ms)),
  ],
  { maxCommands: 50, size: 'large' },
);

describe('ConcurrencyManager agrees with a sequential model', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['hrtime'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each([
    ['strict priority', false],
    ['fair (aging)', true],
  ])('%s: grants, refusals and the limit, in any interleaving', async (_, fair) => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 6 }),
        commands,
        async (max, queueLimit, cmds) => {
          const mgr = new ConcurrencyManager({ maxConcurrency: max, queueLimit, fair, agingInterval: 50 });
          const real: Real = { m: mgr, state: new Map(), permits: new Map(), aborts: new Map() };
          const model: Model = {
            max,
            queueLimit,
            fair,
            aging: 50,
            ticket: 0,
            holders: new Map(),
            queue: [],
            state: new Map(),
            nextId: 0,
          };
          try {
            await fc.asyncModelRun(() => ({ model, real }), cmds);
          } finally {
            // An acquire granted just as it is aborted may still resolve: sweep until all is back.
            for (let round = 0; round < 3; round++) {
              for (const ac of real.aborts.values()) ac.abort();
              for (const p of real.permits.values()) p.release();
              await settle();
            }
          }
          expect(mgr.inUse).toBe(0);
          expect(mgr.queued).toBe(0);
        },
      ),
      { numRuns: 80 },
    );
  });
});
