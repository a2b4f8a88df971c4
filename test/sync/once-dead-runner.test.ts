// Once invariant O4 (src/sync/once.ts): a runner whose thread dies mid-run (worker.terminate(),
// process.exit in the worker) counts as a failed run, and a waiting caller takes the run over.
// Before O4 the run stayed RUNNING for good: every other thread's do()/doSync() waited out its
// timeout, or forever. And O4 never takes over a live runner, however long it runs or blocks.
import { Worker } from 'node:worker_threads';
import { Once, onceStats } from 'skein/internal';
import { afterEach, describe, expect, it } from 'vitest';
import { sleep, until } from '../fixtures/sync-run.js';

const RUNNER = new URL('../fixtures/once-runner.mjs', import.meta.url);
const started: Worker[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((w) => w.terminate()));
});

interface Started {
  worker: Worker;
  /** What its call returned. */
  result: Promise<unknown>;
  /** Its exit code. Listened for from the start: an exit while the caller awaited something else is not missed. */
  exited: Promise<number>;
}

/** A worker running `op` of once-runner.mjs on `once`. */
function start(op: string, once: Once, flag: Int32Array, ms = 0): Started {
  const worker = new Worker(RUNNER, { workerData: { op, obj: once, flag, ms } });
  started.push(worker);
  const result = new Promise((resolve, reject) => {
    worker.once('message', (m: { value: unknown }) => resolve(m.value));
    worker.once('error', reject);
  });
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  return { worker, result, exited };
}

const newFlag = (): Int32Array => new Int32Array(new SharedArrayBuffer(8));

/** Starts `op` as the runner and waits until its fn has begun. */
async function runner(op: string, once: Once, flag: Int32Array, ms = 0): Promise<Started> {
  const r = start(op, once, flag, ms);
  await until(() => Atomics.load(flag, 0) === 1, 10_000, `${op} to begin its run`);
  return r;
}

describe('a Once whose runner dies mid-run is taken over by a waiter (O4)', () => {
  it('worker.terminate() of an async runner: the main thread\'s waiting do() runs fn itself, within seconds', async () => {
    const once = new Once();
    const flag = newFlag();
    const { worker } = await runner('asyncHang', once, flag);
    let ran = 0;
    const waiting = once.do(() => void ran++, { timeout: 8000 }); // before O4: TimeoutError at 8 s
    await sleep(600); // a probe or two found it alive meanwhile (its parks parked again)
    expect(ran).toBe(0);
    await worker.terminate();
    const t0 = performance.now();
    expect(await waiting).toBe(true);
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(ran).toBe(1);
    expect(onceStats.takenOver).toBeGreaterThanOrEqual(1); // a probe of this thread found it dead
    expect(once.done).toBe(true);
    expect(await once.do(() => void ran++)).toBe(false);
  }, 20_000);

  it('a runner blocked in a synchronous fn, terminated: of a worker and the main thread waiting, exactly one runs fn', async () => {
    const once = new Once();
    const flag = newFlag();
    const { worker } = await runner('syncBusy', once, flag);
    const other = start('syncWait', once, flag, 8000); // blocks in doSync in its own worker
    const mine = once.do(() => void Atomics.add(flag, 1, 1), { timeout: 8000 });
    await sleep(1200); // probes took some of its parks: its loop is blocked, they stay taken
    expect(Atomics.load(flag, 1)).toBe(0);
    await worker.terminate();
    const t0 = performance.now();
    const [a, b] = await Promise.all([mine, other.result]);
    expect(performance.now() - t0).toBeLessThan(4000);
    expect([a, b].filter((x) => x === true)).toHaveLength(1);
    expect(Atomics.load(flag, 1)).toBe(1);
    expect(once.done).toBe(true);
  }, 20_000);

  it('process.exit in the runner\'s worker mid-run: the main thread\'s waiting do() runs fn', async () => {
    const once = new Once();
    const flag = newFlag();
    const { exited } = await runner('asyncExit', once, flag, 500);
    let ran = 0;
    const waiting = once.do(() => void ran++, { timeout: 8000 });
    expect(await exited).toBe(7);
    const t0 = performance.now();
    expect(await waiting).toBe(true);
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(ran).toBe(1);
  }, 20_000);
});

describe('a live runner is never taken over (O4)', () => {
  it('a runner blocked 2.5 s in a synchronous fn finishes its run; the waiter does not run fn', async () => {
    const once = new Once();
    const flag = newFlag();
    const { result } = await runner('syncSlow', once, flag, 2500);
    let ran = 0;
    expect(await once.do(() => void ran++, { timeout: 10_000 })).toBe(false);
    expect(ran).toBe(0);
    expect(await result).toBe(true);
    expect(Atomics.load(flag, 1)).toBe(1);
  }, 20_000);

  it('an async runner running 2 s (its loop free, its parks woken and parked again) finishes its run', async () => {
    const once = new Once();
    const flag = newFlag();
    const { result } = await runner('asyncSlow', once, flag, 2000);
    const other = start('syncWait', once, flag, 10_000);
    let ran = 0;
    expect(await once.do(() => void ran++, { timeout: 10_000 })).toBe(false);
    expect(await other.result).toBe(false);
    expect(ran).toBe(0);
    expect(await result).toBe(true);
    expect(Atomics.load(flag, 1)).toBe(1);
  }, 20_000);
});
