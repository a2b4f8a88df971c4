// Model-based test: random sequences of Semaphore operations, checked step by step against a
// sequential model of a FIFO weighted semaphore (available permits, held guards, a line of waiters
// served strictly in order, each only when enough permits are free for it).
import fc from 'fast-check';
import {
  AbortError,
  type Guard,
  pendingAsyncWaitCount,
  Semaphore,
  SemaphoreReleaseError,
  TimeoutError,
} from 'skein/internal';
import { describe, expect, it } from 'vitest';
import { queued, sleep, until } from '../fixtures/sync-run.js';

interface Waiter {
  n: number;
  ac: AbortController;
  settled: boolean;
  guard?: Guard;
  error?: unknown;
}

interface Model {
  permits: number;
  available: number;
  held: number[]; // permits per held guard
  line: number[]; // waiter ids in arrival order
}

interface Real {
  sem: Semaphore;
  guards: Guard[]; // parallel to Model.held
  waiters: Map<number, Waiter>;
  nextId: number;
}

/** Serves the head of the line while it fits, as a FIFO semaphore must; returns who got served. */
function serveLine(m: Model, r: Real): number[] {
  const served: number[] = [];
  while (m.line.length > 0) {
    const w = r.waiters.get(m.line[0])!;
    if (w.n > m.available) break;
    m.available -= w.n;
    served.push(m.line.shift()!);
  }
  return served;
}

/** Waits until exactly the waiters the model served are served for real, then checks the rest. */
async function settle(m: Model, r: Real, served: number[]): Promise<void> {
  await until(() => served.every((id) => r.waiters.get(id)!.settled), 1000, 'served waiters');
  for (const id of served) {
    const w = r.waiters.get(id)!;
    expect(w.error).toBeUndefined();
    m.held.push(w.n);
    r.guards.push(w.guard!);
    r.waiters.delete(id);
  }
  await sleep(1); // a waiter served by mistake would show up by now
  for (const id of m.line) expect(r.waiters.get(id)!.settled).toBe(false);
  check(m, r);
}

function check(m: Model, r: Real): void {
  expect(r.sem.available).toBe(m.available);
  if (m.line.length === 0) expect(queued(r.sem)).toBe(0);
  else expect(queued(r.sem)).toBeGreaterThanOrEqual(m.line.length);
}

const weight = (m: Model, raw: number) => 1 + (raw % m.permits);

class TryAcquire implements fc.AsyncCommand<Model, Real> {
  constructor(readonly raw: number) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const n = weight(m, this.raw);
    const expected = m.line.length === 0 && m.available >= n;
    const g = r.sem.tryAcquire(n);
    expect(g !== undefined).toBe(expected);
    if (g) {
      m.available -= n;
      m.held.push(n);
      r.guards.push(g);
    }
    check(m, r);
  }
  toString = () => `tryAcquire(${this.raw})`;
}

/** acquire(n, { timeout: 0 }), async or blocking: one try that never waits. */
class AcquireNow implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly raw: number,
    readonly sync: boolean,
  ) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const n = weight(m, this.raw);
    const expected = m.line.length === 0 && m.available >= n;
    let g: Guard | undefined;
    let err: unknown;
    try {
      g = this.sync ? r.sem.acquireSync(n, { timeout: 0 }) : await r.sem.acquire(n, { timeout: 0 });
    } catch (e) {
      err = e;
    }
    if (expected) {
      expect(err).toBeUndefined();
      m.available -= n;
      m.held.push(n);
      r.guards.push(g!);
    } else {
      expect(err).toBeInstanceOf(TimeoutError);
    }
    check(m, r);
  }
  toString = () => `acquire${this.sync ? 'Sync' : ''}(${this.raw}, { timeout: 0 })`;
}

/** acquire(n, { timeout: 5 }), awaited: nothing is released meanwhile, so it is served now or never. */
class AcquireBriefly implements fc.AsyncCommand<Model, Real> {
  constructor(readonly raw: number) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const n = weight(m, this.raw);
    const expected = m.line.length === 0 && m.available >= n;
    const out = await r.sem.acquire(n, { timeout: 5 }).then(
      (g) => g,
      (e: unknown) => e,
    );
    if (expected) {
      m.available -= n;
      m.held.push(n);
      r.guards.push(out as Guard);
    } else {
      expect(out).toBeInstanceOf(TimeoutError);
    }
    await settle(m, r, []);
  }
  toString = () => `acquire(${this.raw}, { timeout: 5 })`;
}

/** acquire(n) with a signal, left pending if it must wait. */
class AcquireWait implements fc.AsyncCommand<Model, Real> {
  constructor(readonly raw: number) {}
  check = (m: Readonly<Model>) => m.line.length < 8;
  async run(m: Model, r: Real): Promise<void> {
    const n = weight(m, this.raw);
    const id = r.nextId++;
    const w: Waiter = { n, ac: new AbortController(), settled: false };
    r.waiters.set(id, w);
    r.sem.acquire(n, { signal: w.ac.signal }).then(
      (g) => {
        w.guard = g;
        w.settled = true;
      },
      (e: unknown) => {
        w.error = e;
        w.settled = true;
      },
    );
    m.line.push(id);
    await settle(m, r, serveLine(m, r));
  }
  toString = () => `acquire(${this.raw}) pending`;
}

class Release implements fc.AsyncCommand<Model, Real> {
  constructor(readonly raw: number) {}
  check = (m: Readonly<Model>) => m.held.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const i = this.raw % m.held.length;
    const [n] = m.held.splice(i, 1);
    const [g] = r.guards.splice(i, 1);
    g.release();
    g.release(); // a second release is a no-op
    m.available += n;
    await settle(m, r, serveLine(m, r));
  }
  toString = () => `release(held #${this.raw})`;
}

class ReleaseTooMany implements fc.AsyncCommand<Model, Real> {
  constructor(readonly extra: number) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    expect(() => r.sem.release(m.permits - m.available + 1 + this.extra)).toThrow(SemaphoreReleaseError);
    check(m, r);
  }
  toString = () => `release(too many + ${this.extra})`;
}

class Abort implements fc.AsyncCommand<Model, Real> {
  constructor(readonly raw: number) {}
  check = (m: Readonly<Model>) => m.line.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const [id] = m.line.splice(this.raw % m.line.length, 1);
    const w = r.waiters.get(id)!;
    w.ac.abort();
    await until(() => w.settled, 3000, 'aborted waiter');
    expect(w.error).toBeInstanceOf(AbortError);
    r.waiters.delete(id);
    await settle(m, r, serveLine(m, r)); // the head may have left: the next may fit now
  }
  toString = () => `abort(waiter #${this.raw})`;
}

const commands = fc.commands(
  [
    fc.nat(11).map((n) => new TryAcquire(n)),
    fc.tuple(fc.nat(11), fc.boolean()).map(([n, s]) => new AcquireNow(n, s)),
    fc.nat(11).map((n) => new AcquireBriefly(n)),
    fc.nat(11).map((n) => new AcquireWait(n)),
    fc.nat(11).map((n) => new AcquireWait(n)),
    fc.nat(11).map((n) => new Release(n)),
    fc.nat(11).map((n) => new Release(n)),
    fc.nat(3).map((n) => new ReleaseTooMany(n)),
    fc.nat(11).map((n) => new Abort(n)),
  ],
  { maxCommands: 40, size: 'large' },
);

describe('Semaphore against a sequential model', () => {
  it('agrees with a FIFO weighted semaphore on every step', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), commands, async (permits, cmds) => {
        const m: Model = { permits, available: permits, held: [], line: [] };
        const r: Real = { sem: new Semaphore(permits), guards: [], waiters: new Map(), nextId: 0 };
        try {
          await fc.asyncModelRun(() => ({ model: m, real: r }), cmds);
        } finally {
          // Wind down: abort whoever waits, give everything back; the semaphore must be at rest.
          for (const w of r.waiters.values()) w.ac.abort();
          await until(() => [...r.waiters.values()].every((w) => w.settled), 3000, 'wind-down');
          for (const w of r.waiters.values()) w.guard?.release();
          for (const g of r.guards) g.release();
        }
        expect(r.sem.available).toBe(permits);
        expect(queued(r.sem)).toBe(0);
        expect(pendingAsyncWaitCount()).toBe(0);
      }),
      { numRuns: 100, interruptAfterTimeLimit: 20_000, markInterruptAsFailure: true },
    );
  });
});
