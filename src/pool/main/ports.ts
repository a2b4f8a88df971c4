/**
 * How the main side's three owners see each other. Settlement (settlement.ts) owns how tasks end,
 * dispatch (dispatch.ts) owns how they reach the workers, the lifecycle (worker-lifecycle.ts) owns
 * the workers; each keeps its state private and offers the others only what is named here.
 * pool-core.ts builds the three and joins them, so no two of their files import each other.
 * Internal to the pool (not exported from the package root).
 */
import type { TransferListItem } from 'node:worker_threads';
import type { MainMessage } from '../shared/index.js';
import type { Aux, Target, TaskExtras } from './task-queue.js';
import type { IndexMemory, WorkerEntry } from './worker-entry.js';

/** Settlement as dispatch, the lifecycle, aborts and the sweep see it. */
export interface Settler {
  /** Reads every worker's published results and settles them; returns how many. */
  drain(): number;
  /** Settles slot `s`'s task (if nobody did yet) and frees the slot. */
  finishSlot(s: number, ok: boolean, value: unknown): void;
  /** Settles slot `s`'s caller now and detaches it; the worker's late result is ignored. */
  settleEarly(s: number, err: Error): void;
  /** Fails a task that holds no slot (cancelled in the queue). */
  failUnplaced(target: Target, aux: Aux, err: unknown): void;
  /** A worker's result record (its result ring) or message. */
  readonly onResult: (slot: number, status: number, value: unknown, decodeError: unknown) => void;
  messageResult(slot: number, status: number, value: unknown, encoded?: boolean): void;
  /** Rejects everything queued or out (force close, a module that cannot load). */
  rejectAll(err: Error): void;
  /** Runs whoever waits for the pool to drain, if the moment has come. */
  notifyIdle(): void;
  /** Wakes the result loop when the last task ended off the result rings. */
  endResultLoopIfIdle(): void;
  /** Starts the result loop unless it runs (it keeps the process alive while tasks are out or queued). */
  ensureResultLoop(): void;
}

/**
 * A task as dispatch takes it, field by field (no object per task): its priority, its input as
 * stored (see task-intake.ts), its function's id, who settles it, and when it was submitted.
 */
export type TaskToPlace = [
  priority: number,
  stored: unknown,
  fnId: number,
  target: Target,
  aux: Aux,
  extras: TaskExtras | undefined,
  enqueued: number,
];

/** Dispatch as settlement and the lifecycle see it. */
export interface Placer {
  /** Hands a task to the workers (a ring record or a message); false if there is no room now. */
  place(...task: TaskToPlace): boolean;
  /** {@link place}, or back into the queue when there is no room. */
  placeOrQueue(...task: TaskToPlace): void;
  /** Moves queued tasks into the rings and publishes them (after results freed room). */
  refill(): void;
  /** Posts a message to a worker and raises its MAIL flag. */
  mail(e: WorkerEntry, msg: MainMessage, transfer?: readonly TransferListItem[]): void;
  /** Function names by id, for a new worker's init. */
  fnNamesNow(): string[];
  /** Task ring buffers by priority, for a new worker's init. */
  ringSabs(): SharedArrayBuffer[];
  /** Every shared buffer shipped to the workers so far, for a new worker's init (sab-shipper.ts). */
  sabsForInit(): { sabIds: number[]; sabs: SharedArrayBuffer[] };
  /** The buffer a result record names by id. */
  resolveSab(id: number): SharedArrayBuffer;
  /** The claim position of each ring (index 1..10), read before a recovery. */
  ringHeads(): number[];
  /** Records below `heads` that no worker marked CONSUMED (their claimer died); see ring.ts. */
  recoverOrphans(heads: number[], orphan: (slot: number) => void): void;
  /** Tasks written to the rings and not yet claimed, aborted ones left out. */
  ringBacklog(): number;
}

/** The workers as dispatch and settlement see them. */
export interface WorkerView {
  /** Live workers (started and not exited). */
  readonly workerCount: number;
  /** Set once the task module cannot load: new tasks fail with it. */
  readonly broken: Error | undefined;
  /** Each worker index's result ring and histograms (they outlive the worker). */
  readonly indexMem: readonly IndexMemory[];
  /** The worker at an index, or undefined if none lives there now. */
  entryAt(index: number): WorkerEntry | undefined;
  /** Every index, with its worker or undefined. */
  readonly entries: readonly (WorkerEntry | undefined)[];
}
