// A key a pool or a submit does not take was ignored without a word: `new WorkerPool({ maxWorker:
// 4 })` made a pool of the default size, `submit(x, { timout: 50 })` ran with no time limit. Such a
// key is now InvalidArgumentError naming it, the keys taken, and the one it is a slip of.
import { DynamicWorkerPool, FixedWorkerPool, InvalidArgumentError, WorkerPool } from 'skein';
import { describe, expect, it } from 'vitest';
import { rejection, TASKS, trackPools } from '../fixtures/pool-helpers.js';
import { failure } from '../fixtures/failure.js';

const track = trackPools();


describe('unknown option keys of the pool layer', () => {
  it('WorkerPool, DynamicWorkerPool and FixedWorkerPool options: named, with the keys they take', () => {
    const err = (f: () => unknown): Error => {
      try {
        f();
      } catch (e) {
        return e as Error;
      }
      throw new Error('expected a throw');
    };
    const typo = err(() => new WorkerPool({ filename: TASKS, maxWorker: 4 } as never));
    expect(typo).toBeInstanceOf(InvalidArgumentError);
    expect(typo.message).toMatch(/^WorkerPool options take only 'filename', 'minWorkers', 'maxWorkers', .*'name', got 'maxWorker' \(did you mean 'maxWorkers'\?\)$/);
    expect(err(() => new DynamicWorkerPool({ filename: TASKS, idleTimeOut: 5 } as never)).message).toMatch(
      /^DynamicWorkerPool options take only .* got 'idleTimeOut' \(did you mean 'idleTimeout'\?\)$/,
    );
    // A fixed pool's size is n: a maxWorkers among its options was overridden without a word.
    const fixed = err(() => new FixedWorkerPool(2, { filename: TASKS, maxWorkers: 4 } as never));
    expect(fixed).toBeInstanceOf(InvalidArgumentError);
    expect(fixed.message).toMatch(/^FixedWorkerPool options take only 'filename', 'idleTimeout', .* got 'maxWorkers'$/);
    // piscina's names keep their own message.
    expect(() => new FixedWorkerPool(2, { filename: TASKS, maxThreads: 1 } as never)).toThrow(/not `maxThreads`/);
    expect(() => new WorkerPool({ filename: TASKS, minThreads: 1 } as never)).toThrow(/not `minThreads`/);
  });

  it('every documented pool option is taken, and a key left undefined is no mistake', async () => {
    const pool = track(
      new WorkerPool({
        filename: TASKS,
        minWorkers: 0,
        maxWorkers: 1,
        idleTimeout: 5_000,
        maxQueue: 100,
        taskTimeout: 10_000,
        concurrentTasksPerWorker: 1,
        resourceLimits: { maxOldGenerationSizeMb: 256 },
        workerData: { any: 'thing' },
        maxInFlight: 64,
        spinMicros: 0,
        killGrace: 100,
        unhealthyAfter: 30_000,
        bootTimeout: 30_000,
        maxTasksPerWorker: 1_000,
        maxMemoryPerWorker: 1_024,
        env: { ...process.env },
        argv: ['--flag'],
        execArgv: [],
        name: 'options-test',
        ...({ notAnOption: undefined } as object),
      }),
    );
    expect(await pool.submit(3, { fn: 'double' })).toBe(6);
    const fixed = track(new FixedWorkerPool(1, { filename: TASKS, maxWorkers: undefined } as never));
    expect(await fixed.submit(4, { fn: 'double' })).toBe(8);
  });

  it('submit, run, submitBatch and map options: named, at the call', async () => {
    const pool = track(new WorkerPool({ filename: TASKS, maxWorkers: 1 }));
    const late = await rejection(pool.submit(1, { fn: 'double', timout: 50 } as never));
    expect(late).toBeInstanceOf(InvalidArgumentError);
    expect(late.message).toBe(
      "submit options take only 'fn', 'priority', 'signal', 'timeout', 'transfer', got 'timout' (did you mean 'timeout'?)",
    );
    expect((await rejection(pool.run(1, { priorty: 9 } as never))).message).toMatch(/got 'priorty' \(did you mean 'priority'\?\)/);
    expect(await rejection(pool.submitBatch([1, 2], { signl: new AbortController().signal } as never))).toBeInstanceOf(
      InvalidArgumentError,
    );
    // map takes `ordered` and `window` besides, and refuses anything else before it starts.
    const mapped = await failure(() => pool.map([1, 2], { fn: 'double', orderd: false } as never));
    expect(mapped).toBeInstanceOf(InvalidArgumentError);
    expect(mapped.message).toMatch(/^map options take only .*'ordered', 'window', got 'orderd' \(did you mean 'ordered'\?\)$/);
    const out: number[] = [];
    for await (const v of pool.map([1, 2, 3], { fn: 'double', ordered: false, window: 2, priority: 7 })) out.push(v as number);
    expect(out.sort()).toEqual([2, 4, 6]);
    // piscina's names keep their own message; a key left undefined is no mistake.
    expect((await rejection(pool.submit(1, { transferList: [] } as never))).message).toMatch(/not `transferList`/);
    expect(await pool.submit(5, { fn: 'double', timout: undefined } as never)).toBe(10);
    // drain() takes wait options: `{ timout: 50 }` waited with no time limit.
    const drain = await rejection(pool.drain({ timout: 50 } as never));
    expect(drain).toBeInstanceOf(InvalidArgumentError);
    expect(drain.message).toBe("drain options take only 'signal', 'timeout', got 'timout' (did you mean 'timeout'?)");
    await pool.drain({ signal: new AbortController().signal, timeout: 1000, extra: undefined } as never);
    // close() refused unknown keys already, with the same wording.
    expect(await rejection(pool.close({ forse: true } as never))).toBeInstanceOf(InvalidArgumentError);
  });
});
