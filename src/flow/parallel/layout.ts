/**
 * The shared control block of one data-parallel call, and the protocol its participants follow.
 *
 * A call splits the index range [start, end) into `chunks` chunks of `chunk` indices (the last may
 * be shorter) and submits `P` participant tasks to the pool. Each participant claims chunk numbers
 * from a shared cursor until they run out, so a participant that started late or got cheap chunks
 * simply claims more: uneven work finishes together without any planning on the main thread.
 *
 * Int32 control words (`ctl`):
 *   CURSOR  the next chunk number to hand out (`Atomics.add` by 1 per claim).
 *   STOP    0 while the call runs; 1 once anything failed or the caller aborted. Only ever set.
 *   DONE    chunks finished.
 *   FAILED  1 + the number of the first chunk whose function threw (0: none).
 *   FAILED_BY  the participant whose chunk FAILED names (stored by it after winning FAILED's CAS,
 *           before its task throws; the caller reads it after every task settled, so after that
 *           store): the caller reports that participant's error as the cause, whichever arrived first.
 *   TICKET + p   participant p's start ticket: 0 not started, 1 started (by the participant),
 *                2 cancelled (by the caller, before it started).
 * Float64 partials (`parts`, reductions only): `parts[k]` holds chunk k's partial, `parts[chunks]`
 * the combined result.
 *
 * Invariants (cited as P1..P5 in the code):
 *   P1. Each chunk number k < chunks is returned by exactly one `Atomics.add(CURSOR, 1)`, so each
 *       chunk runs at most once; numbers >= chunks mean "no work left" and are never run.
 *   P2. A participant reads STOP before each claim and runs no new chunk once it is set; a chunk
 *       already running finishes (the call fails anyway: the caller sees STOP's cause, not a result).
 *   P3. A chunk's partial is stored before its `Atomics.add(DONE, 1)` (a sequentially consistent
 *       read-modify-write, so the store is visible to whoever reads DONE after it). The participant
 *       whose add moves DONE to `chunks` therefore sees every partial and alone combines them, in
 *       chunk order (the result does not depend on which worker ran which chunk).
 *   P4. A participant starts only by moving its ticket 0 -> 1, and the caller cancels it only by
 *       moving it 0 -> 2 (both CAS), so exactly one of them wins. The caller aborts the pool task of
 *       a participant it cancelled (it never ran, or returns at once on seeing 2) and waits for the
 *       task of every participant that started: so when a call settles, no participant of it is
 *       still running and nothing touches the caller's memory any more. (A running chunk is never
 *       interrupted: abort and timeout act at chunk boundaries.)
 *   P5. The combined result is stored before that participant's task returns; the caller reads it
 *       only after every participant's task settled, which happens after the return.
 */
export const CURSOR = 0;
export const STOP = 1;
export const DONE = 2;
export const FAILED = 3;
export const FAILED_BY = 4;
export const TICKET = 5;

/** Ticket values (P4). */
export const NOT_STARTED = 0;
export const STARTED = 1;
export const CANCELLED = 2;

/**
 * Chunk count cap of every call (the chunk grows instead): CURSOR, DONE and FAILED are Int32 words,
 * and each of the P <= chunks participants claims once past the last chunk, so CURSOR ends at
 * chunks + P <= 2^31 and never wraps negative (which would run chunks at negative indices and again
 * from 0, forever: P1 needs every number >= chunks to mean "no work left").
 */
export const MAX_CHUNKS = 2 ** 30;

/** Reductions keep one partial per chunk, so their chunk count is capped lower (the chunk grows instead). */
export const MAX_REDUCE_CHUNKS = 1 << 16;

/** The builtin task name of the participant (see `pool/worker/builtin-tasks.ts`). */
export const PARALLEL_TASK = 'skein:parallel';

/** Which loop a participant runs. */
export const JobKind = { For: 0, Map: 1, Reduce: 2 } as const;
export type JobKind = (typeof JobKind)[keyof typeof JobKind];

/** A function as a participant receives it: an export of the task module, or a self-contained source. */
export type FunctionRef = string | { source: string };

/** One participant's input: the call's job and the participant's number (its ticket). */
export interface ParticipantInput {
  job: ParallelJob;
  id: number;
}

/** A call's description, the same for all of its participants. */
export interface ParallelJob {
  kind: JobKind;
  ctl: Int32Array;
  parts: Float64Array | undefined;
  data: ArrayLike<unknown> | undefined;
  out: { [i: number]: unknown } | undefined;
  body: FunctionRef;
  combine: FunctionRef | undefined;
  identity: number;
  start: number;
  end: number;
  chunk: number;
  arg: unknown;
}
