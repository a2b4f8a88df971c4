/**
 * The pool's shared control block: what the main thread and the workers agree on.
 *
 * Int32 `ctl` (one SharedArrayBuffer):
 *   0..3 TASK_SEQ                 wait word (memory/wait/word.ts) the workers sleep on: bumped when
 *                                 tasks are published, mail is posted, or the pool stops; writers always
 *                                 bump it (an idle worker spins on its SEQ). Published tasks wake workers
 *                                 by a counted notify, with word.ts's left-over-waiter rule (invariant 6):
 *                                 a worker whose async wait was interrupted looks for work before it
 *                                 sleeps again. Only a worker that would claim sleeps here (WAKE below)
 *   9..12 MAIN_SEQ                wait word the main thread sleeps on: bumped when results are published
 *   4 STOP                        0 run; 1 finish what is queued then exit; 2 exit when the current task ends
 *   5 PRIO_MASK                   bit p set once the ring of priority p has carried a task (workers scan only those)
 *   6 CLAIMED                     ring records claimed by workers so far (mod 2^32); the main thread counts
 *                                 records written, so the difference is what waits in the rings
 *   7 SPINNER                     index + 1 of the one idle worker allowed to spin before it sleeps (0: none);
 *                                 taken and given back by CAS, so spinners never outnumber one; a worker
 *                                 that dies holding it is cleared by the main thread (worker-lifecycle.ts)
 *   16 + w * W_STRIDE             block of worker index w:
 *        +0 MAIL      1 when the main thread has posted messages to this worker (it pulls them synchronously)
 *        +1 STATE     WorkerState
 *        +2 DONE      tasks this worker completed (single writer: the worker)
 *        +3 FAILED    tasks that ended in an error
 *        +4 RETIRE    1 asks this worker to exit once it holds no task
 *        +5 INFLIGHT  tasks it is running now
 *        +6 CLAIMING  1 while it is inside a claim (from before its HEAD CAS until every claimed record is
 *                     marked CONSUMED): records below HEAD and not CONSUMED belong to a claimer that is
 *                     mid-claim or dead, and the main thread tells them apart by this word (worker-lifecycle.ts)
 *        +8..+11 WAKE wait word this worker sleeps on instead of TASK_SEQ while it would claim nothing
 *                     from the rings: it runs as many tasks as it may, it is recycling, or it was asked
 *                     to leave (word.ts invariant 6: a wake-up of a counted notify that it took would
 *                     be spent, and the task would wait for another worker's timed re-check). The main
 *                     thread notifies it (notifyAll) after what such a worker waits for: mail posted
 *                     to it (MAIL), its RETIRE, STOP; a settling task ends its async sleep itself
 *   SLOT_STATE + s   SlotState of task slot s: FREE -> QUEUED (main) -> CLAIMED (worker CAS) -> RUNNING
 *                    (worker CAS) -> FINISHED (worker store, before it writes the result) -> FREE
 *                    (main, once it read the result); the main thread may CAS QUEUED or CLAIMED ->
 *                    CANCELLED, and a worker then skips the task. The CAS on the same word decides
 *                    every race between an abort and a worker starting the task. FINISHED ends the
 *                    task's run time where the worker ended it: a timeout or kill grace counts only
 *                    RUNNING, so a result that waits for a busy main thread is never timed out.
 *   SLOT_OWNER + s   worker index that claimed slot s (stored before the CLAIMED CAS, so it is valid
 *                    whenever the state reads CLAIMED, RUNNING or FINISHED)
 *   SLOT_GEN + s     generation of the task now in slot s: bumped by the main thread each time it
 *                    places a task there, before the QUEUED (or CLAIMED) store that publishes it, and
 *                    constant until the slot is FREE again. (slot, generation) names one task: an abort
 *                    message carries both, so one that arrives after its task ended and the slot was
 *                    reused names a task the worker no longer runs, and is dropped.
 *
 * Float64 `times` (another SharedArrayBuffer), all on the shared clock (memory/clock.ts):
 *   slot s: ENQ + s  when the task was queued;  START + s  when a worker started it
 *   slot s: PROGRESS + s   when its task last made progress it told of (a parallel call's participant,
 *                          after each chunk: worker-context.ts taskProgress). Health (sweep.ts isStuck)
 *                          counts a task stuck from the later of START and PROGRESS; run times and
 *                          task timeouts still count from START. Never cleared: a previous task's
 *                          PROGRESS in the slot is older than the next task's START
 *   worker w: ACTIVE + w   when it last finished a task (for idle shrinking and health)
 *   worker w: BUSY + w     milliseconds it has spent running tasks since it started (its utilization);
 *                          written by that worker only, zeroed by the main thread before it starts
 *
 * The claim and recovery protocol: how a task goes from the main thread to one worker and back,
 * and how the main thread takes back what a dead worker held. The code cites these as "claim C<n>"
 * (in the manner of Go's runtime/chan.go). Task rings: ring.ts; slot table: main/slot-table.ts.
 *
 * C1. Placing (main, dispatch.ts). A slot comes from the free list (no thread refers to a free
 *     slot: C8). The main thread writes the ring record, then SLOT_OWNER = -1, then bumps
 *     SLOT_GEN, then stores SLOT_STATE = QUEUED; all before C2 makes the record visible.
 * C2. Publishing (main). A record becomes visible only through the `Atomics.store` of the ring's
 *     TAIL, after its bytes were written with plain stores, so every record below TAIL is whole.
 * C3. Scanning (worker). A claimer reads HEAD h, then TAIL t, and walks the records in [h, t) to
 *     choose how many to take. Those bytes are its to read only while HEAD is still h: once others
 *     claimed past h they may be CONSUMED and reused by the writer (C6). So a record length that
 *     is impossible, or runs past t, means HEAD moved (reload it and rescan) or, if HEAD is still h,
 *     corrupt memory (CorruptMemoryError). A scan that looked sane is settled by C4's CAS.
 * C4. Claiming (worker). The claimer sets its CLAIMING word, then CASes HEAD h -> pos: the winner
 *     owns the records in [h, pos) alone; a loser rescans (C3). Right after the CAS, CLAIMED += n,
 *     then it adds n to its W_INFLIGHT: a claimed task counts in flight until it finishes (C8) or
 *     is skipped (C5, C7). A reader of both counts sees it in one, or in neither only between those
 *     two stores, never in both (maybeGrow reads W_INFLIGHT first for that; maxQueue errs open).
 *     CLAIMING stays set until every record it took is marked CONSUMED (C5).
 * C5. Copying (worker, per claimed record): copy the value out, store SLOT_OWNER = its index, mark
 *     the record CONSUMED, then CAS SLOT_STATE QUEUED -> CLAIMED. A failed CAS means the main thread
 *     cancelled the task (C7): the worker answers with a Skipped result instead of running it. A PAD
 *     in the claimed run is marked CONSUMED too, after its length was read to step over it: it is
 *     written unmarked, since its header must stay until its claimer has read it (C6).
 * C6. Reusing ring space (main). The writer reclaims space only behind records marked CONSUMED, in
 *     order from its reclaim point up to HEAD, so a record (or a PAD) is never overwritten while its
 *     claimer still reads it (C5); bytes above a stale h are not protected (C3).
 * C7. Starting and aborting. The worker CASes CLAIMED -> RUNNING; the main thread's abort CASes
 *     QUEUED or CLAIMED -> CANCELLED. The CAS that wins decides: a cancelled task never runs, and a
 *     running one is aborted by a message naming (slot, SLOT_GEN), which the worker drops unless
 *     that very task still runs there (worker/worker-context.ts). The worker stores the slot's start
 *     time before that CAS, so a main thread that loads RUNNING (sweep.ts) reads this task's start,
 *     not the previous occupant's; a slot is only timed while RUNNING.
 * C8. Finishing. The worker stores FINISHED (its run time ends), then writes and publishes the
 *     result. The main thread frees the slot (FREE, back on the free list) only after it read that
 *     result (or a Skipped one), or after the owner died (C9): a slot number is never reused while
 *     a worker may still refer to it.
 * C9. Recovery (main, after a worker exits; main/claim-recovery.ts). Its slots that were CLAIMED
 *     (not started) go back to the queue when their input can be resent; RUNNING or FINISHED ones
 *     with no result read fail with WorkerCrashedError. A claimer that died inside C4-C5 left either
 *     records below HEAD not CONSUMED, or QUEUED slots with its name on them, or CANCELLED ones with
 *     its name whose Skipped result it never wrote (noted at its exit, freed here). The main thread reads
 *     each ring's HEAD first, then every live worker's CLAIMING: if one is set it retries later
 *     (that claim may be one of these), otherwise no live worker will touch those records or slots
 *     again (claims begun after the HEAD read start at or above it), so it marks the records
 *     CONSUMED and puts their tasks, and the QUEUED slots named by the dead, back in the rings.
 * C10. A task put back is placed anew (C1): new slot or not, a new SLOT_GEN, so a late abort
 *     message for the old placement names no task (C7).
 */
import { type WaitWord, wordAt } from '../../memory/wait/index.js';

export const TASK_SEQ = 0;
export const MAIN_SEQ = 9;
export const STOP = 4;
export const PRIO_MASK = 5;
export const CLAIMED = 6;
export const SPINNER = 7;
export const WORKERS_AT = 16;

const taskWords = new WeakMap<Int32Array, WaitWord<'pool.task'>>();
const mainWords = new WeakMap<Int32Array, WaitWord<'pool.main'>>();
/** The wait word workers sleep on, in control block `ctl`. */
export function taskWord(ctl: Int32Array): WaitWord<'pool.task'> {
  let w = taskWords.get(ctl);
  if (!w) taskWords.set(ctl, (w = wordAt(ctl, TASK_SEQ)));
  return w;
}
/** The wait word the main thread sleeps on, in control block `ctl`. */
export function mainWord(ctl: Int32Array): WaitWord<'pool.main'> {
  let w = mainWords.get(ctl);
  if (!w) mainWords.set(ctl, (w = wordAt(ctl, MAIN_SEQ)));
  return w;
}
export const W_STRIDE = 16;
export const W_MAIL = 0;
export const W_STATE = 1;
export const W_DONE = 2;
export const W_FAILED = 3;
export const W_RETIRE = 4;
/** Tasks the worker claimed and has not finished or skipped: running, or claimed and not yet started (C4). */
export const W_INFLIGHT = 5;
export const W_CLAIMING = 6;
/** First of the four slots of the worker's own wait word (WAKE above). */
export const W_WAKE = 8;

/** Worker index `index`'s own wait word (WAKE), in control block `ctl`. */
export function wakeWord(ctl: Int32Array, index: number): WaitWord<'pool.worker'> {
  return wordAt(ctl, WORKERS_AT + index * W_STRIDE + W_WAKE);
}

/** Most worker indices a pool can have at once (a hard cap on maxWorkers). */
export const MAX_WORKER_INDEX = 256;

export enum SlotState {
  Free = 0,
  Queued = 1,
  Claimed = 2,
  Running = 3,
  Cancelled = 4,
  /** The worker ended the task and is writing (or has written) its result; the main thread frees it. */
  Finished = 5,
}

export enum WorkerState {
  Starting = 0,
  Idle = 1,
  Busy = 2,
  Exited = 3,
}

export enum ResultStatus {
  Ok = 0,
  Error = 1,
  /** The task was cancelled before it started: nothing ran. */
  Skipped = 2,
}

export interface Layout {
  slots: number;
  slotState: number;
  slotOwner: number;
  slotGen: number;
  ctlInts: number;
  enq: number;
  start: number;
  active: number;
  busy: number;
  progress: number;
  timesDoubles: number;
}

export function layoutFor(slots: number): Layout {
  const slotState = WORKERS_AT + MAX_WORKER_INDEX * W_STRIDE;
  const slotOwner = slotState + slots;
  const slotGen = slotOwner + slots;
  return {
    slots,
    slotState,
    slotOwner,
    slotGen,
    ctlInts: slotGen + slots,
    enq: 0,
    start: slots,
    active: 2 * slots,
    busy: 2 * slots + MAX_WORKER_INDEX,
    progress: 2 * slots + 2 * MAX_WORKER_INDEX,
    timesDoubles: 3 * slots + 2 * MAX_WORKER_INDEX,
  };
}

/** Everything a worker needs to join a pool (sent in its first message). */
export interface WorkerInit {
  filename: string;
  index: number;
  workerId: number;
  concurrency: number;
  slots: number;
  ctl: SharedArrayBuffer;
  times: SharedArrayBuffer;
  /** Task rings by priority (index 1..10; 0 unused). */
  rings: SharedArrayBuffer[];
  results: SharedArrayBuffer;
  waitHist: SharedArrayBuffer;
  runHist: SharedArrayBuffer;
  /** Function names by id (id 0: the default export). */
  fnNames: string[];
  /** Modules to import before the task module (see `setWorkerPreload`). */
  preload: string[];
  /** Where the main thread, running under tsx, found it (a TypeScript task module only; see shared/tsx.ts). */
  tsx?: string[];
  /** The shared buffers the pool has shipped so far, with their ids (main/sab-shipper.ts). */
  sabIds: number[];
  sabs: SharedArrayBuffer[];
  /** Tasks after which the worker asks to be replaced (Infinity: never). */
  maxTasks: number;
  /** Used JavaScript heap, in MiB, above which the worker asks to be replaced after a task. */
  maxMemoryMiB: number;
  /** The pool's `workerData`, for the task module's `setup(ctx)`. */
  workerData: unknown;
}

/** Messages a worker posts to the main thread. */
export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'init-error'; error: unknown }
  /** Its task module loaded and it runs the module's setup() now (posted only for a module that has one). */
  | { type: 'setup' }
  /** It reached maxTasksPerWorker or maxMemoryPerWorker: it leaves once idle and wants a successor. */
  | { type: 'recycle' }
  /** It left its loop on being retired and runs its task module's teardown now, then exits. */
  | { type: 'leaving' }
  /** `encoded`: `value` is its codec encoding (codec.ts `decodeOwned`), as the result ring would carry it. */
  | { type: 'result'; slot: number; status: ResultStatus; value: unknown; encoded?: boolean };

/** Messages the main thread posts to a worker (pulled with receiveMessageOnPort after MAIL is set). */
export type MainMessage =
  | { type: 'fn'; id: number; name: string }
  | { type: 'abort'; slot: number; gen: number; timedOut?: number }
  /** `encoded`: `input` is its codec encoding (codec.ts `decodeOwned`), as a ring record would carry it. */
  | { type: 'task'; slot: number; fnId: number; input: unknown; encoded?: boolean }
  /** Shared buffers that ring records may name by id from now on (main/sab-shipper.ts). */
  | { type: 'sabs'; ids: number[]; sabs: SharedArrayBuffer[] }
  /** Ids no record will name again: the worker drops its table's hold on them. */
  | { type: 'sab-forget'; ids: number[] };
