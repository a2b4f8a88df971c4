/**
 * The main side of a pool, put together: the shared memory, and the three owners that work on it.
 *
 *   dispatch (dispatch.ts)           how tasks reach the workers: rings, function ids, publish, spin
 *   settlement (settlement.ts)       how tasks end: results, outcome counts, idle waiters, result loop
 *   lifecycle (worker-lifecycle.ts)  the workers: spawn, exit and recovery, retire, growth, stop
 *
 * Each keeps its state private and sees the others only through the interfaces of ports.ts; this
 * file builds them and joins them, so none of their files imports another. Task intake
 * (task-intake.ts), aborts (abort-watch.ts) and the sweep (sweep.ts) use them through this core;
 * `WorkerPool` is the public face.
 * Internal to the pool (not exported from the package root).
 */
import { Dispatcher } from './dispatch.js';
import type { ResolvedOptions } from './options.js';
import { PoolMemory } from './pool-memory.js';
import { Settlement } from './settlement.js';
import { Sweeper } from './sweep.js';
import { WorkerLifecycle } from './worker-lifecycle.js';

export class PoolCore {
  readonly mem: PoolMemory;
  readonly settlement: Settlement;
  readonly dispatch: Dispatcher;
  readonly workers: WorkerLifecycle;
  readonly sweeper: Sweeper;

  constructor(readonly o: ResolvedOptions) {
    const mem = new PoolMemory(o.slots);
    this.mem = mem;
    const workers = new WorkerLifecycle(mem, o);
    const settlement = new Settlement(mem, workers);
    const sweeper = new Sweeper(mem, o, settlement, workers);
    const timed = (ms: number): void => sweeper.armFor(ms);
    const dispatch = new Dispatcher(mem, o, settlement, workers, { afterFlush: () => workers.maybeGrow(), timed });
    settlement.connect(dispatch);
    workers.connect(settlement, dispatch, timed);
    this.workers = workers;
    this.settlement = settlement;
    this.dispatch = dispatch;
    this.sweeper = sweeper;
  }
}
