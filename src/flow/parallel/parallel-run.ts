/**
 * Runs a planned data-parallel call (parallel-plan.ts) on its pool: one task per participant, each
 * claiming chunks until none are left; stops at chunk boundaries on an abort, a timeout or the first
 * failure, and says which chunk failed (invariants P2, P4 in layout.ts).
 */
import { MAX_TIMER_MS } from '../../memory/clock.js';
import { AbortError, TimeoutError } from '../../memory/errors.js';
import { watchAbort } from '../../memory/wait/index.js';
import { PoolClosedError, QueueFullError, WorkerCrashedError } from '../../pool/index.js';
import { ParallelError } from '../errors.js';
import { CANCELLED, FAILED, FAILED_BY, NOT_STARTED, PARALLEL_TASK, STOP, TICKET } from './layout.js';
import type { ParallelOptions, Plan } from './parallel-plan.js';

/** Runs the plan's participants on the pool; resolves once all of them settled and none failed. */
export async function run(what: string, { job, participants }: Plan, o: ParallelOptions): Promise<void> {
  if (o.signal?.aborted) throw new AbortError(`${what} was aborted`, { cause: o.signal.reason });
  if (job.end === job.start) return;
  const ctl = job.ctl;
  const cancels: AbortController[] = [];
  let stopped: Error | undefined;
  let failure: unknown;
  /** Whether `failure` is the pool's refusal of the call rather than a failure of its loop (below). */
  let refusedByPool = false;
  const errors = new Map<number, unknown>(); // by participant, to report FAILED_BY's own error
  let refused = 0;
  const halt = (): void => {
    Atomics.store(ctl, STOP, 1); // P2: no chunk starts after this
    // P4: participants that have not started never will; their tasks leave the pool's queue.
    for (let id = 0; id < participants; id++) {
      if (Atomics.compareExchange(ctl, TICKET + id, NOT_STARTED, CANCELLED) === NOT_STARTED) cancels[id].abort();
    }
  };
  const stop = (reason: Error): void => {
    stopped ??= reason;
    halt();
  };
  const onAbort = (): void => stop(new AbortError(`${what} was aborted`, { cause: o.signal?.reason }));
  const unwatch = o.signal ? watchAbort(o.signal, onAbort) : undefined; // one listener per signal
  const timer =
    o.timeout === undefined || o.timeout > MAX_TIMER_MS
      ? undefined
      : setTimeout(() => stop(new TimeoutError(`${what} timed out after ${o.timeout} ms`)), o.timeout);
  try {
    const tasks: Promise<unknown>[] = [];
    for (let id = 0; id < participants; id++) {
      const cancel = new AbortController();
      cancels.push(cancel);
      tasks.push(
        // timeout 0: a participant runs many chunks, so the pool's taskTimeout would cut a long
        // call whose chunks are each short, and reject it while participants still run (P4).
        // The call's own `timeout` bounds it, at chunk boundaries.
        o.pool.submit({ job, id }, { fn: PARALLEL_TASK, signal: cancel.signal, timeout: 0 }).catch((err: unknown) => {
          if (cancel.signal.aborted) return; // cancelled before it started (P4): not a failure
          // Refused by a full queue (maxQueue): it never starts, so the others claim its share; only
          // less parallelism, unless every participant is refused (then nothing would run a chunk).
          if (err instanceof QueueFullError && ++refused < participants) {
            Atomics.compareExchange(ctl, TICKET + id, NOT_STARTED, CANCELLED);
            return;
          }
          if (failure === undefined) {
            failure = err;
            // Not the loop's failure but the pool's answer to the call: it refused the participant
            // before it started (a closed or broken pool, an arg that cannot be copied, a full
            // queue), or it was closed under it. The caller gets that error as it is, not inside a
            // ParallelError. (A worker that dies is the loop's failure, started or not.)
            refusedByPool =
              err instanceof PoolClosedError ||
              (!(err instanceof WorkerCrashedError) && Atomics.load(ctl, TICKET + id) === NOT_STARTED);
          }
          errors.set(id, err);
          halt();
        }),
      );
    }
    await Promise.all(tasks);
  } finally {
    if (timer) clearTimeout(timer);
    unwatch?.();
  }
  if (stopped) throw stopped;
  if (failure !== undefined) {
    const k = Atomics.load(ctl, FAILED) - 1;
    if (k < 0 && refusedByPool) throw failure;
    // The error of the chunk named, not of whichever participant's rejection arrived first.
    const by = Atomics.load(ctl, FAILED_BY);
    if (k >= 0 && errors.has(by)) failure = errors.get(by);
    const chunk =
      k >= 0
        ? { start: job.start + k * job.chunk, end: Math.min(job.end, job.start + (k + 1) * job.chunk) }
        : undefined;
    const where = chunk ? ` on indices ${chunk.start}..${chunk.end - 1}` : '';
    const msg = (failure as Error)?.message ?? String(failure);
    throw new ParallelError(`${what} failed${where}: ${msg}`, chunk, { cause: failure });
  }
}
