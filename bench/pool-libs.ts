/**
 * The libraries of the pool benchmark behind one small interface, each started with the same
 * settings: exactly `threads` workers from the start, no idle shrinking during a run, default
 * queueing, and the same task functions (`workers/bench-tasks.ts`, or its thin wrappers for
 * poolifier and workerpool, which want their own module shapes).
 *
 * Variants of skein: `skein` (one `submit` per task, default options: `spinMicros: 'auto'`),
 * `skein-batch` (`submitBatch`: no promise per task), `skein-nospin` (`spinMicros: 0`: the main
 * thread never spins), `skein-spin` (`spinMicros: 50` after every flush, the opt-in low-latency mode). Variant of poolifier:
 * `poolifier-map` (its own batch call, `mapExecute`). `floor` is no pool at all: the memory
 * scenario's baseline, the caller's own pending promises (see `bench/pool-scenarios.ts`).
 */
import { fileURLToPath } from 'node:url';

export type TaskName = 'echo' | 'hash';

/** A started pool: one task, many at once, and shutdown. */
export interface Runner {
  run(fn: TaskName, input: number): Promise<unknown>;
  /** All inputs at once; resolves to every output. Defaults to `Promise.all` of `run`. */
  runAll(fn: TaskName, inputs: readonly number[]): Promise<unknown[]>;
  close(): Promise<void>;
}

export const PEERS = ['piscina', 'tinypool', 'poolifier', 'poolifier-map', 'workerpool'] as const;
export const SKEINS = ['skein', 'skein-batch', 'skein-nospin', 'skein-spin'] as const;
export const ALL_LIBS = [...SKEINS, ...PEERS, 'floor'] as const;
export type LibName = (typeof ALL_LIBS)[number];

const tasksFile = new URL('../workers/bench-tasks.js', import.meta.url);
const poolifierFile = new URL('../workers/bench-poolifier.js', import.meta.url);
const workerpoolFile = new URL('../workers/bench-workerpool.js', import.meta.url);

function allOf(run: Runner['run']): Runner['runAll'] {
  return (fn, inputs) => {
    const ps = new Array<Promise<unknown>>(inputs.length);
    for (let i = 0; i < inputs.length; i++) ps[i] = run(fn, inputs[i]);
    return Promise.all(ps);
  };
}

/** Starts `lib` with `threads` workers. */
export async function startLib(lib: LibName, threads: number): Promise<Runner> {
  switch (lib) {
    case 'skein':
    case 'skein-batch':
    case 'skein-nospin':
    case 'skein-spin': {
      // Loaded here, not at the top: the parent process never needs the package itself.
      const { FixedWorkerPool } = await import('../src/index.js');
      const pool = new FixedWorkerPool(threads, {
        filename: tasksFile,
        spinMicros: lib === 'skein-spin' ? 50 : lib === 'skein-nospin' ? 0 : 'auto',
      });
      const run: Runner['run'] = (fn, input) => pool.submit(input, { fn });
      return {
        run,
        runAll: lib === 'skein-batch' ? (fn, inputs) => pool.submitBatch(inputs, { fn }) : allOf(run),
        close: () => pool.close(),
      };
    }
    case 'piscina': {
      const { Piscina } = await import('piscina');
      const pool = new Piscina({
        filename: tasksFile.href,
        minThreads: threads,
        maxThreads: threads,
        idleTimeout: 60_000,
      });
      const run: Runner['run'] = (fn, input) => pool.run(input, { name: fn });
      return { run, runAll: allOf(run), close: () => pool.destroy() };
    }
    case 'tinypool': {
      const { default: Tinypool } = await import('tinypool');
      const pool = new Tinypool({
        filename: tasksFile.href,
        minThreads: threads,
        maxThreads: threads,
        idleTimeout: 60_000,
        isolateWorkers: false,
      });
      const run: Runner['run'] = (fn, input) => pool.run(input, { name: fn });
      return { run, runAll: allOf(run), close: () => pool.destroy() };
    }
    case 'poolifier':
    case 'poolifier-map': {
      const { FixedThreadPool } = await import('poolifier');
      const pool = new FixedThreadPool<number, unknown>(threads, fileURLToPath(poolifierFile), {
        errorHandler: (e) => console.error(e),
      });
      // poolifier can drop tasks executed before its workers report ready: wait for that first.
      if (!pool.info.ready) await new Promise((r) => pool.emitter?.once('ready', r));
      const run: Runner['run'] = (fn, input) => pool.execute(input, fn);
      return {
        run,
        runAll: lib === 'poolifier-map' ? (fn, inputs) => pool.mapExecute(inputs, fn) : allOf(run),
        close: () => pool.destroy(),
      };
    }
    case 'workerpool': {
      const { default: workerpool } = await import('workerpool');
      const pool = workerpool.pool(fileURLToPath(workerpoolFile), {
        minWorkers: threads,
        maxWorkers: threads,
        workerType: 'thread',
      });
      const run: Runner['run'] = (fn, input) => pool.exec(fn, [input]) as Promise<unknown>;
      return {
        run,
        runAll: allOf(run),
        close: async () => {
          await pool.terminate();
        },
      };
    }
    case 'floor':
      throw new Error('floor is no pool; the memory scenario handles it');
  }
}
