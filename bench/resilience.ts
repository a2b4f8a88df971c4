/**
 * Per-call overhead of the resilience policies against cockatiel 3 and opossum 9, in the same run:
 * a closed circuit breaker, a retry whose first try succeeds, a composed retry(breaker(timeout)),
 * the shared-state check a breaker does per call (admit + record, without the promise around it),
 * and a token bucket's `tryAcquire`. Each is measured local (only this thread uses the object) and,
 * for skein's shared objects, shared (a worker thread hammers the same object meanwhile).
 *
 * Every row is a loop of `--n` calls (awaited one after another for async rows) after a warm-up of
 * n / 4, repeated `--runs` times (default 5), all rows round-robin; the table shows the median
 * nanoseconds per call.
 * The function under the policy is `() => 1`, so what is measured is the policy itself.
 *
 * ```sh
 * npm run bench:resilience
 * node dist/bench/resilience.js --runs 7 --n 500000
 * node dist/bench/resilience.js --only breaker,check
 * ```
 */
import { once } from 'node:events';
import os from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import {
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleAll,
  retry,
  TimeoutStrategy,
  timeout,
  wrap,
} from 'cockatiel';
import OpossumBreaker from 'opossum';
import { CircuitBreaker, compose, now, RetryPolicy, Timeout, TokenBucket } from '../src/internal.js';
import { BreakerMemory } from '../src/internal.js';

type Hammer = 'execute' | 'check' | 'bucket';
interface HammerJob {
  kind: Hammer;
  target: unknown;
  stop: SharedArrayBuffer;
}

const fn = (): number => 1;
const SUCCESS = 0; // the outcome code BreakerMemory.settle takes for a success

/** The shared-state part of a breaker call: what `execute` does around the user's function. */
function checker(b: CircuitBreaker): () => void {
  const mem = new BreakerMemory(b.handle.sab, b.config);
  return () => mem.settle(mem.admit(), SUCCESS, false);
}

// ------------------------------------------------------------------------------------- worker side

async function hammer(job: HammerJob): Promise<void> {
  const stop = new Int32Array(job.stop);
  parentPort?.postMessage('ready');
  if (job.kind === 'execute') {
    const b = CircuitBreaker.from(job.target);
    while (Atomics.load(stop, 0) === 0) for (let i = 0; i < 1000; i++) await b.execute(fn);
  } else {
    const op =
      job.kind === 'check'
        ? checker(CircuitBreaker.from(job.target))
        : bucketOp(TokenBucket.from(job.target));
    while (Atomics.load(stop, 0) === 0) for (let i = 0; i < 1000; i++) op();
  }
}

function bucketOp(bucket: TokenBucket): () => void {
  return () => {
    if (!bucket.tryAcquire()) throw new Error('the bench bucket ran dry');
  };
}

// --------------------------------------------------------------------------------------- main side

/** Starts a worker that hammers `target` until the returned stop function is called. */
async function withHammer<T>(kind: Hammer, target: unknown, body: () => Promise<T>): Promise<T> {
  const stop = new SharedArrayBuffer(4);
  const w = new Worker(new URL(import.meta.url), { workerData: { kind, target, stop } satisfies HammerJob });
  await new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  try {
    return await body();
  } finally {
    // Let the worker leave its loop and exit by itself: terminating it could stop it inside a
    // breaker's critical section and leave the lock held (see circuit-breaker-layout.ts).
    const exited = once(w, 'exit');
    Atomics.store(new Int32Array(stop), 0, 1);
    await exited;
  }
}

async function timeAsync(op: () => Promise<unknown>, n: number): Promise<number> {
  for (let i = 0; i < n / 4; i++) await op();
  const t0 = now();
  for (let i = 0; i < n; i++) await op();
  return ((now() - t0) * 1e6) / n;
}

function timeSync(op: () => unknown, n: number): number {
  for (let i = 0; i < n / 4; i++) op();
  const t0 = now();
  for (let i = 0; i < n; i++) op();
  return ((now() - t0) * 1e6) / n;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

interface Row {
  group: string;
  name: string;
  ns: number;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const arg = (name: string, dflt: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : dflt;
  };
  const runs = Number(arg('runs', '5'));
  const n = Number(arg('n', '200000'));
  const only = arg('only', 'floor,breaker,retry,compose,check,bucket').split(',');
  const rows: Row[] = [];
  // Cases are registered first and then run round-robin, one run of each per round, so that a
  // change of machine load during the bench shifts every case alike and the ratios hold.
  const cases: { group: string; name: string; once: () => Promise<number>; xs: number[] }[] = [];
  const measure = (group: string, name: string, once: () => Promise<number>): void => {
    if (only.includes(group)) cases.push({ group, name, once, xs: [] });
  };

  // The floor: an async function that awaits fn, what every promise-returning policy pays.
  measure('floor', 'async call floor: (async () => fn())()', () => timeAsync(async () => fn(), n));

  const sk = new CircuitBreaker({ failureThreshold: 5, resetTimeout: 10_000 });
  const skRate = new CircuitBreaker({ failureRateThreshold: 0.5, window: { kind: 'count', size: 100 } });
  const ck = circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) });
  // opossum takes sync functions too (its typings say otherwise): the same fn for every library.
  const op = new OpossumBreaker(fn as unknown as () => Promise<number>, {
    timeout: false,
    resetTimeout: 10_000,
  });
  measure('breaker', 'skein CircuitBreaker.execute (consecutive), local', () =>
    timeAsync(() => sk.execute(fn), n),
  );
  measure('breaker', 'skein CircuitBreaker.execute (count window), local', () =>
    timeAsync(() => skRate.execute(fn), n),
  );
  measure('breaker', 'cockatiel circuitBreaker(ConsecutiveBreaker).execute', () =>
    timeAsync(() => ck.execute(fn), n),
  );
  measure('breaker', 'opossum fire (timeout: false)', () => timeAsync(() => op.fire(), n));
  measure('breaker', 'skein CircuitBreaker.execute (consecutive), shared', () =>
    withHammer('execute', sk, () => timeAsync(() => sk.execute(fn), n)),
  );
  measure('breaker', 'skein CircuitBreaker.execute (count window), shared', () =>
    withHammer('execute', skRate, () => timeAsync(() => skRate.execute(fn), n)),
  );

  const skRetry = new RetryPolicy({ maxAttempts: 3, backoff: 'exponential' });
  const ckRetry = retry(handleAll, { maxAttempts: 3, backoff: new ExponentialBackoff() });
  measure('retry', 'skein RetryPolicy.execute, first try succeeds', () =>
    timeAsync(() => skRetry.execute(fn), n),
  );
  measure('retry', 'cockatiel retry.execute, first try succeeds', () =>
    timeAsync(() => ckRetry.execute(fn), n),
  );

  const skAll = compose(skRetry, sk, new Timeout(10_000));
  const ckAll = wrap(ckRetry, ck, timeout(10_000, TimeoutStrategy.Aggressive));
  measure('compose', 'skein compose(retry, breaker, timeout).execute', () =>
    timeAsync(() => skAll.execute(fn), n),
  );
  measure('compose', 'cockatiel wrap(retry, breaker, timeout).execute', () =>
    timeAsync(() => ckAll.execute(fn), n),
  );

  const check = checker(sk);
  const checkRate = checker(skRate);
  const m = n * 5;
  measure('check', 'breaker.state (one Atomics.load)', async () => timeSync(() => sk.state, m));
  measure('check', 'shared-state check, consecutive: admit + record, local', async () => timeSync(check, m));
  measure('check', 'shared-state check, count window: admit + record, local', async () =>
    timeSync(checkRate, m),
  );
  measure('check', 'shared-state check, consecutive, shared', () =>
    withHammer('check', sk, async () => timeSync(check, m)),
  );
  measure('check', 'shared-state check, count window, shared', () =>
    withHammer('check', skRate, async () => timeSync(checkRate, m)),
  );

  const bucket = new TokenBucket({ capacity: 0x7fffffff, refillPerSecond: 1e9 });
  const take = bucketOp(bucket);
  measure('bucket', 'skein TokenBucket.tryAcquire, local', async () => timeSync(take, m));
  measure('bucket', 'skein TokenBucket.tryAcquire, shared', () =>
    withHammer('bucket', bucket, async () => timeSync(take, m)),
  );

  for (let r = 0; r < runs; r++) {
    for (const c of cases) c.xs.push(await c.once());
    console.error(`round ${r + 1} of ${runs} done`);
  }
  op.shutdown();
  for (const c of cases) rows.push({ group: c.group, name: c.name, ns: median(c.xs) });

  const get = (name: string) => rows.find((r) => r.name.startsWith(name))?.ns;
  const ratio = (a: string, b: string) => {
    const x = get(a);
    const y = get(b);
    return x !== undefined && y !== undefined ? `${(x / y).toFixed(2)}x` : 'n/a';
  };
  console.log(
    `\nNode ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} (${os.availableParallelism()} cores), ` +
      `n=${n} (sync rows ${m}), median of ${runs} runs\n`,
  );
  console.log('| group | case | ns per call |');
  console.log('|---|---|---:|');
  for (const r of rows) console.log(`| ${r.group} | ${r.name} | ${r.ns.toFixed(1)} |`);
  console.log('\nRatios (skein / peer, lower is better):');
  console.log(
    `- closed breaker vs cockatiel: ${ratio('skein CircuitBreaker.execute (consecutive), local', 'cockatiel circuitBreaker')}`,
  );
  console.log(
    `- closed breaker vs opossum: ${ratio('skein CircuitBreaker.execute (consecutive), local', 'opossum fire')}`,
  );
  console.log(
    `- count-window breaker vs cockatiel: ${ratio('skein CircuitBreaker.execute (count window), local', 'cockatiel circuitBreaker')}`,
  );
  console.log(`- retry vs cockatiel: ${ratio('skein RetryPolicy', 'cockatiel retry')}`);
  console.log(`- compose vs cockatiel wrap: ${ratio('skein compose', 'cockatiel wrap')}`);
}

if (isMainThread) {
  await main();
} else {
  await hammer(workerData as HammerJob);
}
