/**
 * One item through one segment, with each stage's retry policy: the item leaves with the segment's
 * output, as a dead letter of the stage that failed for good, or cancelled (the run stopped).
 *
 * Retries are scheduled here, on the main thread, because a RetryPolicy's backoff and `retryIf` are
 * functions, which stay in the thread that made them. A retry of fused stage m resumes at m with m's
 * input, so the stages before it do not run again; only after a worker crash (m's input died with the
 * worker) does it resume where the failed try started. Breakers, limiters and timeouts act inside
 * the tries, in the workers for pool stages.
 */
import { RETRIED } from './chain.js';
import type { PipelineStats } from './pipeline-stats.js';
import type { Outcome, Segment } from './segment.js';
import type { StageDef } from './stage-options.js';

export type SegmentResult =
  | { kind: 'ok'; value: unknown }
  | { kind: 'dead'; stage: number; error: unknown; attempts: number }
  | { kind: 'cancelled' };

export async function runThroughSegment(
  seg: Segment,
  defs: readonly StageDef[],
  stats: PipelineStats,
  value: unknown,
  ticket: number,
  signal: AbortSignal,
): Promise<SegmentResult> {
  return settleTries(seg, defs, stats, await seg.exec(seg.start, value, ticket, signal), ticket, signal);
}

/** Carries an item on from its first try's outcome (run alone or in a batch): retries, or the verdict. */
export async function settleTries(
  seg: Segment,
  defs: readonly StageDef[],
  stats: PipelineStats,
  first: Outcome,
  ticket: number,
  signal: AbortSignal,
): Promise<SegmentResult> {
  let outcome = first;
  if (outcome.ok) return { kind: 'ok', value: outcome.value };
  let attempts: number[] | undefined;
  while (!outcome.ok) {
    if (signal.aborted) return { kind: 'cancelled' };
    const m = outcome.stage;
    attempts ??= [];
    attempts[m] = (attempts[m] ?? 0) + 1;
    const retry = defs[m].retry;
    if (!retry) return { kind: 'dead', stage: m, error: outcome.error, attempts: attempts[m] };
    const failed = outcome;
    const from = failed.hasValue ? m : failed.from;
    const input = failed.hasValue ? failed.value : failed.input;
    const tries = attempts;
    let first = true;
    try {
      outcome = await retry.execute(
        async (): Promise<Outcome> => {
          // The first try already ran (inside the segment); let the policy judge its error.
          if (first) {
            first = false;
            throw failed.error;
          }
          stats.add(m, RETRIED);
          const r = await seg.exec(from, input, ticket, signal);
          if (!r.ok && r.stage === m) {
            tries[m]++;
            throw r.error;
          }
          return r; // done, or failed at another stage: that stage's own policy decides next
        },
        { signal },
      );
    } catch (err) {
      if (signal.aborted) return { kind: 'cancelled' };
      return { kind: 'dead', stage: m, error: err, attempts: tries[m] };
    }
  }
  return { kind: 'ok', value: outcome.value };
}
