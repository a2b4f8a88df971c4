import fc from 'fast-check';
import { BrokenCircuitError, CircuitBreaker, now } from 'skein/internal';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// The breaker against a plain sequential model of its rules, on a fake clock.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'hrtime'] });
});
afterEach(() => {
  vi.useRealTimers();
});

type Outcome = 'ok' | 'fail' | 'ignore' | 'permanent';
type Op =
  | { kind: 'call'; outcome: Outcome }
  | { kind: 'advance'; ms: number }
  | { kind: 'forceOpen' }
  | { kind: 'forceClose' }
  | { kind: 'reset' };

interface Config {
  failureThreshold: number;
  rate: number;
  size: number;
  minimumCalls: number;
  resetTimeout: number;
}

/** The rules, written as plainly as possible. */
class Model {
  state = 'closed';
  consec = 0;
  ring: boolean[] = []; // true: failed; the last `size` outcomes
  level = 0;
  openUntil = 0;
  probes = 0;

  constructor(readonly c: Config) {}

  #open(): void {
    this.state = 'open';
    this.openUntil = now() + Math.min(this.c.resetTimeout * 2 ** this.level, 4 * this.c.resetTimeout);
  }

  #close(): void {
    this.state = 'closed';
    this.consec = 0;
    this.ring = [];
    this.level = 0;
  }

  /** Whether the call was admitted. */
  call(o: Outcome): boolean {
    if (this.state === 'forced-open') return false;
    if (this.state === 'open') {
      if (now() < this.openUntil) return false;
      this.state = 'half-open';
      this.probes = 0;
    }
    if (this.state === 'half-open') {
      if (this.probes >= 1) return false;
      if (o === 'ignore') return true;
      if (o === 'ok') this.#close();
      else {
        this.level++;
        this.#open();
      }
      return true;
    }
    if (this.state === 'forced-closed' || o === 'ignore') return true;
    const failed = o !== 'ok';
    this.consec = failed ? this.consec + 1 : 0;
    this.ring.push(failed);
    if (this.ring.length > this.c.size) this.ring.shift();
    const fails = this.ring.filter(Boolean).length;
    if (
      o === 'permanent' ||
      this.consec >= this.c.failureThreshold ||
      (this.ring.length >= this.c.minimumCalls && fails >= this.c.rate * this.ring.length)
    ) {
      this.#open();
    }
    return true;
  }

  apply(op: Op): void {
    if (op.kind === 'forceOpen') this.state = 'forced-open';
    else if (op.kind === 'forceClose') this.state = 'forced-closed';
    else if (op.kind === 'reset') this.#close();
  }
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc
      .constantFrom<Outcome>('ok', 'fail', 'ignore', 'permanent')
      .map((outcome) => ({ kind: 'call' as const, outcome })),
  },
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 150 }).map((ms) => ({ kind: 'advance' as const, ms })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<Op>({ kind: 'forceOpen' }, { kind: 'forceClose' }, { kind: 'reset' }),
  },
);

class Permanent extends Error {}
class Ignored extends Error {}

describe('CircuitBreaker against a sequential model', () => {
  it('admits, refuses and changes state exactly as the model does', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          failureThreshold: fc.integer({ min: 1, max: 6 }),
          rate: fc.constantFrom(0.25, 0.5, 0.75, 1),
          size: fc.integer({ min: 1, max: 8 }),
          resetTimeout: fc.integer({ min: 0, max: 60 }),
        }),
        fc.integer({ min: 1, max: 8 }),
        fc.array(opArb, { maxLength: 80 }),
        async (cfg, minRaw, ops) => {
          const c: Config = { ...cfg, minimumCalls: Math.min(minRaw, cfg.size) };
          const b = new CircuitBreaker({
            failureThreshold: c.failureThreshold,
            failureRateThreshold: c.rate,
            window: { kind: 'count', size: c.size },
            minimumCalls: c.minimumCalls,
            resetTimeout: c.resetTimeout,
            resetBackoff: { multiplier: 2, maxDelay: 4 * c.resetTimeout },
            isFailure: (err) =>
              err instanceof Permanent ? 'permanent' : err instanceof Ignored ? 'ignore' : 'failure',
          });
          const m = new Model(c);
          for (const op of ops) {
            if (op.kind === 'advance') {
              vi.advanceTimersByTime(op.ms);
            } else if (op.kind === 'call') {
              let ran = false;
              await b
                .execute(() => {
                  ran = true;
                  if (op.outcome === 'fail') throw new Error('fail');
                  if (op.outcome === 'permanent') throw new Permanent();
                  if (op.outcome === 'ignore') throw new Ignored();
                })
                .catch((err) => {
                  if (err instanceof BrokenCircuitError) expect(ran).toBe(false);
                });
              expect(ran).toBe(m.call(op.outcome));
            } else {
              b[op.kind]();
              m.apply(op);
            }
            expect(b.state).toBe(m.state);
            if (m.state === 'closed') {
              const snap = b.metrics();
              expect(snap.consecutiveFailures).toBe(m.consec);
              expect(snap.windowCalls).toBe(m.ring.length);
              expect(snap.windowFailures).toBe(m.ring.filter(Boolean).length);
            }
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
