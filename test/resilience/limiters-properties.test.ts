import fc from 'fast-check';
import { LeakyBucket, now, SlidingWindowLimiter, TokenBucket } from 'skein/internal';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// Property tests on a fake clock: fast-check picks interleavings of tryAcquire, waiting acquires,
// aborts and clock steps; the limiters must never pass their rate in any of them.

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['hrtime', 'setTimeout', 'clearTimeout'] });
});
afterEach(() => {
  vi.useRealTimers();
});

// ---------------------------------------------------------------------------------------------
// Exact agreement with a sequential model (tryAcquire + clock steps). Rates whose period is a whole
// number of nanoseconds and steps of whole milliseconds keep the model in integers: the bucket in
// "milli-tokens", refilled by rate * dt each step.

const NICE_RATES = [1, 2, 4, 5, 8, 10, 20, 25, 40, 50, 100, 125, 200, 250, 500, 1000];

interface TbModel {
  milli: number; // tokens * 1000
  cap: number;
  rate: number;
}
type TbReal = TokenBucket;

class TbTry implements fc.Command<TbModel, TbReal> {
  constructor(readonly n: number) {}
  check(m: Readonly<TbModel>): boolean {
    return this.n <= m.cap;
  }
  run(m: TbModel, b: TbReal): void {
    const expected = m.milli >= this.n * 1000;
    if (expected) m.milli -= this.n * 1000;
    expect(b.tryAcquire(this.n)).toBe(expected);
  }
  toString(): string {
    return `tryAcquire(${this.n})`;
  }
}

class Step<M extends { milli?: number; cap?: number; rate?: number }, R> implements fc.Command<M, R> {
  constructor(readonly ms: number) {}
  check(): boolean {
    return true;
  }
  run(m: M): void {
    vi.advanceTimersByTime(this.ms);
    if (m.milli !== undefined && m.cap !== undefined && m.rate !== undefined) {
      m.milli = Math.min(m.cap * 1000, m.milli + m.rate * this.ms);
    }
  }
  toString(): string {
    return `+${this.ms}ms`;
  }
}

describe('TokenBucket agrees with a sequential model', () => {
  it('tryAcquire and clock steps, any order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.constantFrom(...NICE_RATES),
        fc.commands(
          [
            fc.integer({ min: 1, max: 8 }).map((n) => new TbTry(n)),
            fc.integer({ min: 0, max: 1500 }).map((ms) => new Step<TbModel, TbReal>(ms)),
          ],
          { maxCommands: 60 },
        ),
        (cap, rate, cmds) => {
          const b = new TokenBucket({ capacity: cap, refillPerSecond: rate });
          fc.modelRun(() => ({ model: { milli: cap * 1000, cap, rate }, real: b }), cmds);
        },
      ),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The rate bound, with waiting acquires, aborts and timeouts in the mix, at any rate, with clock
// steps that often land just before, on or just after a period. Every admission is logged with the
// instant it is seen and its weight; then, in every interval [a, b], at most
// burst + perMs * (b - a) may have been admitted.
//
// A waiting acquire is seen when its timer fires, up to LATE ms after the instant its tokens came
// due (timers run in whole ms). So for an interval starting at `a` the check counts an acquire only
// if it was seen at a + LATE or later: its admission surely lies inside. That undercounts, never
// overcounts, so a failure is always a real excess.

const LATE = 2;

interface Log {
  at: number[];
  /** `at` in whole nanoseconds, as the limiters read the clock (floored): exact to compare. */
  ns: bigint[];
  n: number[];
  late: number[];
}

const ns = (): bigint => BigInt(Math.floor(now() * 1e6));

function checkBound(log: Log, burst: number, perMs: number): void {
  const { at, n, late } = log;
  for (let i = 0; i < at.length; i++) {
    const a = at[i] - late[i];
    let sum = 0;
    let b = a;
    for (let j = 0; j < at.length; j++) {
      if (at[j] - late[j] < a) continue;
      sum += n[j];
      b = Math.max(b, at[j]);
    }
    // Entries are logged in the order seen, so every counted one is seen by `b`.
    const allowed = burst + perMs * (b - a) + 1e-6;
    if (sum > allowed) throw new Error(`${sum} admitted in [${a}, ${b}] ms; at most ${allowed} allowed`);
  }
}

type Op =
  | { op: 'try'; n: number }
  | { op: 'acquire'; n: number; timeout: number | undefined }
  | { op: 'abort'; which: number }
  | { op: 'step'; ms: number };

/** Scripts of operations; clock steps are multiples of `unitMs` (a period or a window). */
const ops = (maxN: number, unitMs: number): fc.Arbitrary<Op[]> =>
  fc.array(
    fc.oneof(
      fc.record({ op: fc.constant('try' as const), n: fc.integer({ min: 1, max: maxN }) }),
      fc.record({
        op: fc.constant('acquire' as const),
        n: fc.integer({ min: 1, max: maxN }),
        timeout: fc.option(fc.double({ min: 0, max: 4 * unitMs, noNaN: true }), { nil: undefined }),
      }),
      fc.record({ op: fc.constant('abort' as const), which: fc.nat() }),
      fc.record({
        op: fc.constant('step' as const),
        ms: fc
          .oneof(fc.double({ min: 0, max: 3, noNaN: true }), fc.constantFrom(0.5, 0.999, 1, 1.001))
          .map((k) => k * unitMs),
      }),
    ),
    { maxLength: 50 },
  );

interface AnyLimiter {
  tryAcquire(n?: number): boolean;
}

/** Runs `script` against `lim`; `acquire(n, opts)` is the limiter's waiting call. */
async function runScript(
  lim: AnyLimiter,
  acquire: (n: number, opts: { signal: AbortSignal; timeout?: number }) => Promise<void>,
  script: Op[],
): Promise<Log> {
  const log: Log = { at: [], ns: [], n: [], late: [] };
  const pending: AbortController[] = [];
  const settled: Promise<unknown>[] = [];
  for (const o of script) {
    if (o.op === 'try') {
      if (lim.tryAcquire(o.n)) {
        log.at.push(now());
        log.ns.push(ns());
        log.n.push(o.n);
        log.late.push(0);
      }
    } else if (o.op === 'acquire') {
      const ac = new AbortController();
      pending.push(ac);
      settled.push(
        acquire(o.n, { signal: ac.signal, timeout: o.timeout }).then(
          () => {
            log.at.push(now());
            log.ns.push(ns());
            log.n.push(o.n);
            log.late.push(LATE);
          },
          (err: Error) => {
            if (
              err.name !== 'TimeoutError' &&
              err.name !== 'AbortError' &&
              err.name !== 'LeakyBucketFullError'
            )
              throw err;
          },
        ),
      );
    } else if (o.op === 'abort') {
      if (pending.length > 0) pending[o.which % pending.length].abort();
      await vi.advanceTimersByTimeAsync(0); // let the aborted acquire settle (and refund)
    } else {
      await vi.advanceTimersByTimeAsync(o.ms);
    }
  }
  for (const ac of pending) ac.abort();
  await vi.advanceTimersByTimeAsync(0);
  await Promise.all(settled);
  return log;
}

describe('no limiter passes its rate in any interleaving', () => {
  /** (burst, per second) and a script whose clock steps are multiples of `unit(perSecond)` ms. */
  const setup = (
    maxBurst: number,
    minRate: number,
    maxRate: number,
    maxN: number,
    unit: (r: number) => number,
  ) =>
    fc
      .tuple(fc.integer({ min: 1, max: maxBurst }), fc.double({ min: minRate, max: maxRate, noNaN: true }))
      .chain(([burst, rate]) => fc.tuple(fc.constant(burst), fc.constant(rate), ops(maxN, unit(rate))));

  it('TokenBucket: at most capacity + rate * (b - a) in every interval [a, b]', async () => {
    await fc.assert(
      fc.asyncProperty(
        setup(6, 0.5, 200, 6, (r) => 1000 / r),
        async ([cap, rate, script]) => {
          const b = new TokenBucket({ capacity: cap, refillPerSecond: rate });
          const log = await runScript(
            { tryAcquire: (n) => b.tryAcquire(n) },
            (n, opts) => b.acquire(n, opts),
            script.map((o) => ('n' in o ? { ...o, n: Math.min(o.n, cap) } : o)),
          );
          checkBound(log, cap, rate / 1000);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('LeakyBucket: at most capacity + leak * (b - a) in every interval [a, b]', async () => {
    await fc.assert(
      fc.asyncProperty(
        setup(6, 0.5, 200, 1, (r) => 1000 / r),
        async ([cap, rate, script]) => {
          const b = new LeakyBucket({ capacity: cap, leakPerSecond: rate });
          const log = await runScript(
            { tryAcquire: () => b.tryAcquire() },
            (_, opts) => b.acquire(opts),
            script,
          );
          checkBound(log, cap, rate / 1000);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('SlidingWindowLimiter: never more than limit in any window', async () => {
    await fc.assert(
      fc.asyncProperty(
        setup(6, 1, 1000, 1, (w) => w),
        async ([limit, windowMs, script]) => {
          const l = new SlidingWindowLimiter({ windowMs, limit });
          const log = await runScript(
            { tryAcquire: () => l.tryAcquire() },
            (_, opts) => l.acquire(opts),
            script,
          );
          // Sliding-window acquires claim when their timer fires, so the instant seen is the instant
          // admitted: limit + 1 admissions must span at least a whole window. Compared in the
          // limiter's own units (the clock floored to whole ns, the window rounded up to whole ns):
          // in fractional ms, float rounding alone can put an admission made exactly one window
          // later a nanosecond short of it.
          const at = [...log.ns].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
          const window = BigInt(Math.ceil(windowMs * 1e6));
          for (let i = 0; i + limit < at.length; i++) {
            expect(at[i + limit] - at[i] >= window, `admissions ${i} and ${i + limit}: ${at[i]} and ${at[i + limit]} ns`).toBe(true);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
