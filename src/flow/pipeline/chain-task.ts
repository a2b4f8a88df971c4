/**
 * Worker side of chain tasks (chain.ts): the builtin task behind CHAIN_FN. Each worker keeps one
 * ChainRunner per chain id it has been sent (the most recent 64), so a spec crosses to a worker once.
 * Registered in every thread that loads the package root, and in every pool worker (src/worker-preload.ts).
 */
import { errorToRecord, registerBuiltinTask, taskAborted, taskFunction, taskProgress, type TaskContext } from '../../pool/worker-api.js';
import { ChainSpecMissingError } from '../errors.js';
import { decodeBatchFrame, encodeResultsFrame, isFrame } from './batch-frame.js';
import { CHAIN_BATCH_FN, CHAIN_FN, type ChainBatch, type ChainItemResult, type ChainSpec, type ChainTask } from './chain.js';
import { ChainRunner, type StageContext, type StageFunction } from './chain-runner.js';
import { isThenable } from '../../memory/thenable.js';

const MAX_SPECS = 64;
const runners = new Map<string, ChainRunner>();

// A stage's function is looked up when it first runs, so a missing export fails that stage.
function lazy(name: string): StageFunction {
  let f: StageFunction | undefined;
  return (input, ctx) => {
    f ??= taskFunction(name) as StageFunction;
    return f(input, ctx);
  };
}

function runnerFor(id: string, spec: ChainSpec | undefined): ChainRunner {
  let runner = runners.get(id);
  if (!runner) {
    if (!spec) throw new ChainSpecMissingError(`chain ${id} is not known to this worker yet`);
    runner = new ChainRunner(spec, spec.fns.map(lazy));
    if (runners.size >= MAX_SPECS) runners.delete(runners.keys().next().value as string);
    runners.set(id, runner);
  }
  return runner;
}

registerBuiltinTask(CHAIN_FN, (input, ctx) => {
  const task = input as ChainTask;
  return runnerFor(task.id, task.s).run(task.v, task.k, task.e, task.t, task.g, ctx as StageContext);
});

/**
 * One chain batch task in a worker: its items run one after another; a synchronous chain costs no
 * promise per item. An abort stops the batch: the items not yet run are taken over by the main
 * thread (P4) with the rest. A class, not closures made per batch: its methods are one function
 * each for V8 to optimize once per worker (closures made per call were compiled twice, ~15 ms of
 * background compiling each in a cold bench run).
 */
class BatchRun {
  readonly #batch: ChainBatch;
  readonly #runner: ChainRunner;
  readonly #ctx: TaskContext;
  readonly #out: ChainItemResult[] = [];

  constructor(batch: ChainBatch, ctx: TaskContext) {
    this.#batch = batch;
    this.#runner = runnerFor(batch.id, batch.s);
    this.#ctx = ctx;
  }

  /** Runs items i.. in turn; returns the answer, or a promise of it once an item went async. */
  from(i: number): unknown {
    const b = this.#batch.b;
    const ctx = this.#ctx;
    for (; i < b.length; i++) {
      if (taskAborted(ctx)) throw ctx.signal.reason;
      // An item done (whichever way) is progress: a batch of items slower than their estimate may
      // outlast the pool's unhealthyAfter while each item is quick enough (getHealthStatus,
      // restartUnhealthyWorkers).
      if (i > 0) taskProgress(ctx);
      const it = b[i];
      let r: unknown;
      try {
        r = this.#runner.run(it.v, it.k, this.#batch.e, it.t, it.g, ctx as unknown as StageContext);
      } catch (err) {
        this.#failed(err);
        continue;
      }
      if (isThenable(r)) return this.#later(r, i + 1);
      this.#out.push([1, r]);
    }
    // The answer goes back as a frame too, unless an output holds shared memory.
    return encodeResultsFrame(this.#out) ?? this.#out;
  }

  async #later(r: PromiseLike<unknown>, next: number): Promise<unknown> {
    try {
      this.#out.push([1, await r]);
    } catch (err) {
      this.#failed(err);
    }
    return this.from(next);
  }

  #failed(err: unknown): void {
    this.#out.push([0, errorToRecord(err)]); // a stage's failure was marked and counted by the runner (P3, P5)
  }
}

registerBuiltinTask(CHAIN_BATCH_FN, (input, ctx) =>
  new BatchRun(isFrame(input) ? decodeBatchFrame(input) : (input as ChainBatch), ctx as TaskContext).from(0),
);
