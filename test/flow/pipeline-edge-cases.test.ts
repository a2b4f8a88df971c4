// Edge cases of the Pipeline's output iterator, source handling and dead-letter reading, found by a
// review (helper-21); each failed on 204fd1d.
import { getEventListeners } from 'node:events';
import { Readable } from 'node:stream';
import { AbortError, InvalidArgumentError, Pipeline } from 'skein';
import { afterEach, describe, expect, it } from 'vitest';
import { collect, concurrencyProbe, countingSource, PoolBag } from '../fixtures/flow-helpers.js';
import { watchWarnings } from '../fixtures/warnings.js';

const bag = new PoolBag();
afterEach(() => bag.closeAll());

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const TIMEOUT = Symbol('timeout');
/** `p`'s value, or TIMEOUT if it has not settled within `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMEOUT> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<typeof TIMEOUT>((r) => (t = setTimeout(() => r(TIMEOUT), ms)))]).finally(() => clearTimeout(t));
}

/** A hand-written sync source of 0..n-1 that counts its return() calls; next() throws at `throwAt`. */
function probeSource(n: number, throwAt = -1): { source: Iterable<number>; returns: () => number } {
  let i = 0;
  let returns = 0;
  const it: IterableIterator<number> = {
    [Symbol.iterator]() {
      return it;
    },
    next() {
      if (i === throwAt) throw new RangeError('the source broke');
      return i < n ? { value: i++, done: false } : { value: undefined, done: true };
    },
    return() {
      returns++;
      return { value: undefined, done: true };
    },
  };
  return { source: it, returns: () => returns };
}

describe('Pipeline output and source edge cases', () => {
  it('several consumers reading one run side by side (concurrent next() calls) all finish', async () => {
    const pool = bag.make();
    const p = new Pipeline<number>().stage<number>('inc', { pool, fn: 'inc' });
    const run = p.processStream(range(20));
    const reader = async (): Promise<number[]> => {
      const got: number[] = [];
      for await (const x of run) got.push(x);
      return got;
    };
    const all = await within(Promise.all([reader(), reader(), reader()]), 5_000);
    expect(all).not.toBe(TIMEOUT);
    expect((all as number[][]).flat().sort((a, b) => a - b)).toEqual(range(20).map((x) => x + 1));
  });

  it('a next() pending when the output is returned settles', async () => {
    const pool = bag.make(1);
    const p = new Pipeline<{ ms: number }>().stage('slow', { pool, fn: 'sleepy' });
    const run = p.processStream([{ ms: 60_000 }]);
    const pending = run.next();
    await new Promise((r) => setTimeout(r, 200));
    expect(await within(run.return?.() ?? Promise.resolve(undefined), 5_000)).toEqual({ value: undefined, done: true });
    expect(await within(pending, 5_000)).toEqual({ value: undefined, done: true });
  });

  it('a next() after return() is done, not an output that was waiting in the buffer', async () => {
    // Found by review of 7b3d9e8 (older than it): next() handed out buffered outputs after return(),
    // counting them as outputs of a run that had already counted them out.
    const p = new Pipeline<number>().stage<number>('id', { run: (x: number) => x }, { concurrency: 4, buffer: 16 });
    const run = p.processStream(range(8));
    expect(await run.next()).toEqual({ value: 0, done: false });
    while (p.metrics().stages[0].done < 8) await new Promise((r) => setTimeout(r, 1));
    expect(await run.return?.()).toEqual({ value: undefined, done: true });
    expect(await run.next()).toEqual({ value: undefined, done: true });
    expect(await run.next()).toEqual({ value: undefined, done: true });
    expect(p.metrics()).toMatchObject({ outputs: 1, inFlight: 0 });
  });

  it('dead letters read from before the run starts are delivered (or the run reports them)', async () => {
    const pool = bag.make();
    const p = new Pipeline<number>().stage<number>('even', { pool, fn: 'failIfOdd' });
    const letters: unknown[] = [];
    const reading = (async () => {
      for await (const d of p.deadLetters) letters.push(d.input);
    })();
    const out = await p.processBatch(range(6)); // does not throw UnhandledDeadLettersError
    await reading;
    expect(out).toEqual([0, 2, 4]);
    expect(letters.sort()).toEqual([1, 3, 5]);
  });

  it('a source that ended by itself is not closed again when the consumer breaks', async () => {
    const pool = bag.make(1);
    const p = new Pipeline<number>().stage<number>('inc', { pool, fn: 'inc' }, { concurrency: 4 });
    const src = probeSource(3); // all 3 pulled (and the end seen) on the first pull
    for await (const _ of p.processStream(src.source)) break;
    expect(src.returns()).toBe(0);
  });

  it('a source whose next() threw is not closed (as for-of does), and the run rejects with its error', async () => {
    const p = new Pipeline<number>().stage<number>('id', { run: (x: number) => x });
    const src = probeSource(5, 2);
    await expect(p.processBatch(src.source)).rejects.toThrow('the source broke');
    expect(src.returns()).toBe(0);
  });

  it('a source that rejects with undefined fails the run, not ends it as if complete', async () => {
    const p = new Pipeline<number>().stage<number>('id', { run: (x: number) => x });
    let i = 0;
    const source: AsyncIterable<number> = {
      [Symbol.asyncIterator]: () => ({
        next: () => (i < 2 ? Promise.resolve({ value: i++, done: false }) : Promise.reject(undefined)),
      }),
    };
    const outcome = await p.processBatch(source).then(
      (v) => ({ ok: true, v }),
      (e: unknown) => ({ ok: false, e }),
    );
    expect(outcome.ok).toBe(false); // it resolved [0, 1], as if the source had ended
  });
});

describe('Pipeline: concurrency after a stop', () => {
  // An aborted pool task settles at once on the main thread, while a stage function that ignores
  // ctx.signal runs on in its worker until it returns or the pool's killGrace ends it. The stage's
  // slot used to be freed at the abort, so a run started meanwhile ran the stage above its
  // concurrency (two runs in three); now the slot is held until the runner has left (chain.ts P6).
  it('a run started right after a break does not run the stage above its concurrency', async () => {
    const { WorkerPool } = await import('skein');
    const gauges = new Int32Array(new SharedArrayBuffer(8));
    const pool = new WorkerPool({
      filename: new URL('../fixtures/gauge-tasks.mjs', import.meta.url),
      minWorkers: 4,
      maxWorkers: 4,
      killGrace: 5_000, // the aborted tries end on their own (a kill would leave the gauge counting them)
      workerData: { gauges },
    });
    bag.pools.push(pool);
    const p = new Pipeline<{ ms: number }>().stage('db', { pool, fn: 'gaugeSlow' }, { concurrency: 2 });
    for await (const _ of p.processStream([{ ms: 1 }, { ms: 500 }, { ms: 500 }, { ms: 500 }])) break;
    // The two 500 ms tries were aborted; a stage function that does not watch ctx.signal runs on.
    await p.processBatch([{ ms: 200 }, { ms: 200 }, { ms: 200 }]);
    expect(Atomics.load(gauges, 1)).toBeLessThanOrEqual(2); // was 3 or 4: the aborted tries ran on
  });

  it('a slot held for a runaway try comes back when the pool ends its worker, not when the function returns', async () => {
    const { WorkerPool } = await import('skein');
    const gauges = new Int32Array(new SharedArrayBuffer(8));
    const pool = new WorkerPool({
      filename: new URL('../fixtures/gauge-tasks.mjs', import.meta.url),
      minWorkers: 2,
      maxWorkers: 2,
      killGrace: 100,
      workerData: { gauges },
    });
    bag.pools.push(pool);
    const p = new Pipeline<{ ms: number }>().stage('db', { pool, fn: 'gaugeSlow' }, { concurrency: 1 });
    for await (const _ of p.processStream([{ ms: 1 }, { ms: 60_000 }])) break;
    // The 60 s try ignores its signal: its worker is ended after the kill grace, and the slot with it.
    const next = await within(p.processBatch([{ ms: 1 }, { ms: 1 }]), 10_000);
    expect(next).toEqual([{ ms: 1 }, { ms: 1 }]);
    expect(await within(p.processBatch([{ ms: 1 }]), 2_000)).toEqual([{ ms: 1 }]);
  });
});

describe('Pipeline: a slot after its runner died inside a stage', () => {
  // chain.ts P6: the hold on a ticket whose runner's worker is already gone when the main thread takes
  // the try over ended at once, before it was recorded, so the ticket stayed marked "held" for good:
  // its progress word was never cleared again (the next stage showed a phantom queued item) and a later
  // runaway try on it was not held at all.
  it('is cleared after each later item, so no stage shows a phantom queued item', async () => {
    const pool = bag.make(2);
    const p = new Pipeline<unknown>()
      .stage('s0', { pool, fn: 's0' }, { concurrency: 1 })
      .stage('after', { run: (x: unknown) => x });
    await expect(p.process({ id: 1, faults: { 0: 'crash' } })).rejects.toMatchObject({ stage: 's0' });
    expect(await p.process({ id: 2 })).toMatchObject({ id: 2, path: [0] });
    const m = p.metrics();
    expect(m.stages.map((s) => [s.queued, s.inFlight])).toEqual([
      [0, 0],
      [0, 0],
    ]);
  });
});

describe('Pipeline: the owner of a ticket rerun after its batch was given up', () => {
  // chain.ts P6: a runner named itself its ticket's owner on every run(), also for the rest of a batch
  // that the main thread had given up (its worker reads the abort only between tasks) while the item
  // was rerun alone on another worker. A hold on that rerun then watched the wrong worker: it lasted
  // as long as that (idle) worker lived, here for good, and its 5 ms poll kept the process alive.
  it('a hold ends when the worker of the rerun is ended, and a process that never closes its pool exits', async () => {
    const { execFile } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const file = fileURLToPath(new URL('../fixtures/pipeline-exit-batch-rerun.mjs', import.meta.url));
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [file], { timeout: 15_000, killSignal: 'SIGKILL' }, (_err, stdout, stderr) =>
        resolve({ code: child.exitCode, stdout, stderr }),
      );
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0); // null (killed at the time limit) while the hold watched worker A
    expect(JSON.parse(r.stdout)).toEqual({ out: [], letters: ['TimeoutError', 'TimeoutError'] });
  }, 20_000);
});

describe('Pipeline: a malformed source', () => {
  it('a source whose next() resolves to a non-object fails the run, as for await does', async () => {
    const p = new Pipeline<number>().stage<number>('id', { run: (x: number) => x });
    let i = 0;
    const source = {
      [Symbol.asyncIterator]: () => ({ next: async () => (i++ < 1 ? { value: 1, done: false } : undefined) }),
    } as unknown as AsyncIterable<number>;
    const r = await within(
      p.processBatch(source).then(
        () => 'resolved',
        (e: unknown) => e,
      ),
      2_000,
    );
    // It hung, and the TypeError surfaced as an unhandled rejection.
    expect(r).toBeInstanceOf(TypeError);
  });
});

describe('Pipeline inputs, listeners and concurrency across runs', () => {
  it('edge inputs and local stage failures', async () => {
    const letters: { stage: string; input: unknown }[] = [];
    const p = new Pipeline<number>({ onDeadLetter: (d) => letters.push({ stage: d.stage, input: d.input }) })
      .filter((x) => {
        if (x === 1) throw new Error('pred');
        return true;
      })
      .stage<number>('a', {
        run: (x: number) => {
          if (x === 2) throw new Error('sync');
          if (x === 3) return Promise.reject(new Error('async'));
          return x;
        },
      });
    expect(await p.processBatch([])).toEqual([]);
    expect(await p.processBatch(range(5))).toEqual([0, 4]);
    expect(await p.processBatch(Readable.from(range(5)))).toEqual([0, 4]);
    expect(letters.map((l) => `${l.stage}:${String(l.input)}`)).toEqual(
      expect.arrayContaining(['filter#0:1', 'a:2', 'a:3']),
    );
    expect(() => p.stage('b', { run: (x: number) => x }, { buffer: 'x' as never })).toThrow(InvalidArgumentError);
    expect(() => new Pipeline<number>().stage('b', { run: (x: number) => x }, { concurrency: -1 })).toThrow(InvalidArgumentError);
  });

  it('concurrent runs of one pipeline share one listener on its signal and print no MaxListenersExceededWarning', async () => {
    const ctl = new AbortController();
    const p = new Pipeline<number>({ signal: ctl.signal }).stage<number>('a', {
      run: async (x: number) => {
        await new Promise((r) => setTimeout(r, 5));
        return x;
      },
    });
    const warnings = watchWarnings();
    try {
      const runs = Array.from({ length: 30 }, (_, i) => p.process(i));
      await new Promise((r) => setTimeout(r, 1)); // every run has started
      // One per run before (and on the pipeline's own close signal too): Node warned at the 11th.
      expect(getEventListeners(ctl.signal, 'abort').length).toBe(1);
      expect(await Promise.all(runs)).toEqual(range(30));
      expect(getEventListeners(ctl.signal, 'abort').length).toBe(0);
      expect(await warnings.names()).not.toContain('MaxListenersExceededWarning');
    } finally {
      warnings.stop();
    }
  });

  it('a timed main-thread stage whose calls read their signal prints no MaxListenersExceededWarning', async () => {
    // Every call of a run's `run` stage follows the run's signal: one listener per call before.
    let aborted = 0;
    const p = new Pipeline<number>().stage<number>(
      'a',
      {
        run: async (x: number, { signal }) => {
          if (signal.aborted) aborted++;
          await new Promise((r) => setTimeout(r, 5));
          return x;
        },
      },
      { concurrency: 30, timeout: 5_000 },
    );
    const warnings = watchWarnings();
    try {
      expect(await p.processBatch(range(60))).toEqual(range(60));
      expect(await warnings.names()).not.toContain('MaxListenersExceededWarning');
      expect(aborted).toBe(0);
    } finally {
      warnings.stop();
    }
  });

  it('run-stage calls that listen on ctx.signal while they run (as fetch does) print no MaxListenersExceededWarning, and a break aborts them', async () => {
    // Every call of a run shared the run's signal: 30 calls listening at once warned at the 11th.
    let aborted = 0;
    let started = 0;
    const p = new Pipeline<number>().stage<number>(
      'a',
      {
        run: (x: number, { signal }) =>
          new Promise<number>((resolve, reject) => {
            started++;
            const timer = setTimeout(() => {
              signal.removeEventListener('abort', onAbort);
              resolve(x);
            }, 5 + (x % 3));
            const onAbort = (): void => {
              aborted++;
              clearTimeout(timer);
              reject(signal.reason as Error);
            };
            signal.addEventListener('abort', onAbort, { once: true });
          }),
      },
      { concurrency: 30 },
    );
    const warnings = watchWarnings();
    try {
      expect(await p.processBatch(range(90))).toEqual(range(90));
      expect(aborted).toBe(0);
      started = 0;
      for await (const _ of p.processStream(range(1000))) break; // the calls then running see their signals abort
      await new Promise((r) => setTimeout(r, 20));
      expect(aborted).toBeGreaterThan(0);
      expect(aborted).toBeLessThanOrEqual(started);
      expect(await warnings.names()).not.toContain('MaxListenersExceededWarning');
    } finally {
      warnings.stop();
    }
  });

  it('no abort listener left on the signal after many runs; pre-aborted closes the source once', async () => {
    const ctl = new AbortController();
    const p = new Pipeline<number>({ signal: ctl.signal }).stage<number>('a', { run: (x: number) => x + 1 });
    for (let i = 0; i < 20; i++) await p.process(i);
    await p.processBatch(range(10));
    for await (const _ of p.processStream(range(10))) break;
    expect(getEventListeners(ctl.signal, 'abort').length).toBe(0);
    const gone = new AbortController();
    gone.abort();
    const q = new Pipeline<number>({ signal: gone.signal }).stage<number>('a', { run: (x: number) => x });
    const src = countingSource(10);
    await expect(q.processBatch(src.source)).rejects.toBeInstanceOf(AbortError);
    expect(src.pulled()).toBe(0);
  });

  it('concurrency holds across two concurrent runs and process() calls', async () => {
    const gauges = new Int32Array(new SharedArrayBuffer(16));
    const pool = bag.make(2, { concurrentTasksPerWorker: 8, workerData: { gauges } });
    const p = new Pipeline<number>().stage<number>('g', { pool, fn: 'gauge0' }, { concurrency: 3 });
    await Promise.all([p.processBatch(range(30)), p.processBatch(range(30)), ...range(10).map((x) => p.process(x))]);
    expect(Atomics.load(gauges, 1)).toBeLessThanOrEqual(3);
    expect(Atomics.load(gauges, 1)).toBeGreaterThan(0);
  });
});

describe('deadLetters after a run that never starts', () => {
  it('ends for a pipeline used only through process()', async () => {
    const pool = bag.make(1);
    const p = new Pipeline<number>().stage<number>('even', { pool, fn: 'failIfOdd' });
    const letters = collect(p.deadLetters);
    expect(await p.process(2)).toBe(2);
    await expect(p.process(3)).rejects.toThrow('odd 3'); // the caller gets its letter
    expect(await within(letters, 2_000)).toEqual([]);
  });

  it('ends when the only run fails at once (signal already aborted)', async () => {
    const pool = bag.make(1);
    const gone = new AbortController();
    gone.abort();
    const p = new Pipeline<number>({ signal: gone.signal }).stage<number>('inc', { pool, fn: 'inc' });
    const run = p.processStream([1, 2, 3]);
    const letters = collect(p.deadLetters);
    await expect(collect(run)).rejects.toBeInstanceOf(AbortError);
    expect(await within(letters, 2_000)).toEqual([]);
  });

  it('ends when the pipeline was closed before its run (reader started first, as rule 2 asks)', async () => {
    const pool = bag.make(1);
    const p = new Pipeline<number>().stage<number>('inc', { pool, fn: 'inc' });
    await p.close();
    const letters = collect(p.deadLetters);
    await expect(p.processBatch([1, 2, 3])).rejects.toBeInstanceOf(AbortError);
    expect(await within(letters, 2_000)).toEqual([]);
  });

  it('ends when the only run is returned before it was read', async () => {
    const pool = bag.make(1);
    const p = new Pipeline<number>().stage<number>('inc', { pool, fn: 'inc' });
    const run = p.processStream([1, 2, 3]);
    const letters = collect(p.deadLetters);
    await run.return?.();
    expect(await within(letters, 2_000)).toEqual([]);
  });
});

describe('Pipeline.setStageConcurrency', () => {
  it('holds the stage to the lowered limit, not only reports it, and restoring it lifts it', async () => {
    // Protective mode's back-off: a limit reported but not enforced takes no load off the stage.
    const probe = concurrencyProbe();
    const p = new Pipeline<number>().stage('s', { run: probe.run }, { concurrency: 8 });
    p.setStageConcurrency('s', 2);
    expect(await p.processBatch(range(40))).toEqual(range(40));
    expect(probe.most()).toBe(2);
    p.setStageConcurrency('s', 8);
    probe.reset();
    expect(await p.processBatch(range(40))).toEqual(range(40));
    expect(probe.most()).toBe(8);
  });

  it('holds the stages fused with it to the lowered limit too (they run as one task)', async () => {
    const gauges = new Int32Array(new SharedArrayBuffer(16));
    const pool = bag.make(2, { concurrentTasksPerWorker: 4, workerData: { gauges } });
    const p = new Pipeline<number>()
      .stage<number>('a', { pool, fn: 'gauge0' }, { concurrency: 6 })
      .stage<number>('b', { pool, fn: 'gauge1' }, { concurrency: 6 });
    p.setStageConcurrency('b', 2);
    expect(await p.processBatch(range(60))).toEqual(range(60));
    expect(p.metrics().stages.map((s) => s.fused)).toEqual([true, true]);
    expect([Atomics.load(gauges, 1), Atomics.load(gauges, 3)]).toEqual([2, 2]);
  });
});
