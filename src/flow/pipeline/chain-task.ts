/**
 * Worker side of chain tasks (chain.ts): the builtin task behind CHAIN_FN. Each worker keeps one
 * ChainRunner per chain id it has been sent (the most recent 64), so a spec crosses to a worker once.
 * Registered in every thread that loads the package root, which pool workers import first.
 */
import { registerBuiltinTask, taskFunction } from '../../pool/index.js';
import { ChainSpecMissingError } from '../errors.js';
import { CHAIN_FN, type ChainTask } from './chain.js';
import { ChainRunner, type StageContext, type StageFunction } from './chain-runner.js';

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

registerBuiltinTask(CHAIN_FN, (input, ctx) => {
  const task = input as ChainTask;
  let runner = runners.get(task.id);
  if (!runner) {
    const spec = task.s;
    if (!spec) throw new ChainSpecMissingError(`chain ${task.id} is not known to this worker yet`);
    runner = new ChainRunner(spec, spec.fns.map(lazy));
    if (runners.size >= MAX_SPECS) runners.delete(runners.keys().next().value as string);
    runners.set(task.id, runner);
  }
  return runner.run(task.v, task.k, task.e, task.t, task.g, ctx as StageContext);
});
