/**
 * Starting, replacing and retiring workers.
 *
 * A worker that exits unasked (a crash, `process.exit`, an uncaught error, running out of memory)
 * fails only the tasks it was running, with a WorkerCrashedError naming it and its exit code; tasks
 * it had claimed but not started go back to the rings, and it is replaced while the pool needs it.
 * Internal (not exported from the package root).
 */
import { fastNow as now } from '../../memory/clock.js';
import { SharedHistogram } from '../../memory/histogram.js';
import { wake } from '../../memory/wait.js';
import {
  createRing,
  isErrorRecord,
  MAX_WORKER_INDEX,
  recordToError,
  ResultRingReader,
  SlotState,
  SPINNER,
  TASK_SEQ,
  W_CLAIMING,
  W_DONE,
  W_FAILED,
  W_INFLIGHT,
  W_MAIL,
  W_RETIRE,
  W_STATE,
  W_STRIDE,
  type WorkerInit,
  type WorkerMessage,
  WORKERS_AT,
  WorkerState,
} from '../shared/index.js';
import { WorkerCrashedError, WorkerModuleError } from '../errors.js';
import type { PoolCore } from './pool-core.js';
import { endResultLoopIfIdle, finishSlot, messageResult, notifyIdle, rejectAll } from './settlement.js';
import { MAX_PRIORITY, type Target } from './task-queue.js';
import { WorkerEntry } from './worker-entry.js';

const RESULT_RING = 1 << 20;
let nextWorkerId = 1;
const preload = new Set<string>();

/**
 * Adds a module every new worker imports before its task module. The package root calls it with
 * itself, so every shared kind (Semaphore, CircuitBreaker, ...) is registered in workers and shared
 * objects in task inputs arrive live, without the pool layer importing the layers above it.
 */
export function setWorkerPreload(url: string): void {
  preload.add(url);
}

/** Pool-wide counters the lifecycle keeps. */
export interface LifecycleStats {
  peakWorkers: number;
  starting: number;
}

export function spawnWorker(core: PoolCore, stats: LifecycleStats): WorkerEntry | undefined {
  if (core.broken) return undefined;
  let index = core.entries.indexOf(undefined);
  if (index < 0) index = core.entries.length;
  if (index >= MAX_WORKER_INDEX) return undefined;
  let mem = core.indexMem[index];
  if (!mem) {
    mem = {
      results: new ResultRingReader(createRing(RESULT_RING)),
      waitHist: new SharedHistogram(),
      runHist: new SharedHistogram(),
    };
    core.indexMem[index] = mem;
  } else {
    // A replacement at a reused index: the writer of the ring starts at 0, so must its reader.
    if (mem.results.hasResults()) mem.results.drain(core.onResult);
    mem.results.reset();
  }
  const base = WORKERS_AT + index * W_STRIDE;
  for (const k of [W_MAIL, W_RETIRE, W_INFLIGHT, W_DONE, W_FAILED]) Atomics.store(core.ctl, base + k, 0);
  Atomics.store(core.ctl, base + W_STATE, WorkerState.Starting);
  const e = new WorkerEntry(nextWorkerId++, index, mem, core.o);
  core.entries[index] = e;
  core.workerCount++;
  stats.starting++;
  stats.peakWorkers = Math.max(stats.peakWorkers, core.workerCount);
  core.times[core.L.active + index] = now();
  const init: WorkerInit = {
    filename: core.o.filename,
    index,
    workerId: e.id,
    concurrency: core.o.concurrency,
    slots: core.o.slots,
    ctl: core.ctlSab,
    times: core.timesSab,
    rings: core.rings.map((r) => r?.sab),
    results: mem.results.sab,
    waitHist: mem.waitHist.sab,
    runHist: mem.runHist.sab,
    fnNames: core.fnNames.slice(),
    preload: [...preload],
  };
  e.worker.postMessage(init);
  e.worker.on('message', (m: WorkerMessage) => onMessage(core, stats, e, m));
  e.worker.on('error', (err) => {
    e.lastError = err;
  });
  e.worker.on('exit', (code) => onExit(core, stats, e, code));
  // Unref after the listeners: adding a 'message' listener refs the worker's port again. Idle
  // workers keep no process alive; pending tasks do (the result loop holds a handle meanwhile).
  e.worker.unref();
  return e;
}

function onMessage(core: PoolCore, stats: LifecycleStats, e: WorkerEntry, msg: WorkerMessage): void {
  if (msg.type === 'ready') {
    e.ready = true;
    stats.starting--;
    // Tasks that wait for a live worker (direct ones, when the pool had none) can go now.
    core.dispatch();
    core.publish();
  } else if (msg.type === 'result') {
    messageResult(core, msg.slot, msg.status, msg.value);
  } else if (msg.type === 'init-error') {
    // The task module cannot load: every task fails with that error rather than respawning forever.
    const err = isErrorRecord(msg.error)
      ? recordToError(msg.error)
      : new WorkerModuleError(String(msg.error));
    if (core.broken) return;
    core.broken = err;
    rejectAll(core, err);
    for (const en of core.entries) if (en) retire(core, en, true);
  }
}

function onExit(core: PoolCore, stats: LifecycleStats, e: WorkerEntry, code: number): void {
  e.exited = true;
  if (!e.ready) stats.starting--;
  core.workerCount--;
  core.entries[e.index] = undefined;
  const base = WORKERS_AT + e.index * W_STRIDE;
  Atomics.store(core.ctl, base + W_STATE, WorkerState.Exited);
  // Killed while it spun: give SPINNER back (only its owner ever clears it), and wake a sleeper for
  // any task published meanwhile that publish() left to the spinner.
  if (Atomics.compareExchange(core.ctl, SPINNER, e.index + 1, 0) === e.index + 1) wake(core.ctl, TASK_SEQ);
  // Results it published before it died are real results.
  if (e.mem.results.hasResults()) e.mem.results.drain(core.onResult);
  const crash = new WorkerCrashedError(
    `worker ${e.id} exited with code ${code} while running the task${e.lastError ? `: ${e.lastError.message}` : ''}`,
    e.id,
    code,
    e.lastError ? { cause: e.lastError } : undefined,
  );
  const { L, slots, ctl } = core;
  for (let s = 0; s < slots.size; s++) {
    const st = Atomics.load(ctl, L.slotState + s);
    if (Atomics.load(ctl, L.slotOwner + s) !== e.index) continue;
    if (st === SlotState.Cancelled && slots.cancelledAfterClaim[s]) {
      finishSlot(core, s, false, undefined); // aborted in its hands: the caller has its AbortError
      continue;
    }
    if (st !== SlotState.Claimed && st !== SlotState.Running) continue;
    const resendable = !slots.direct[s] || slots.input[s] !== undefined; // direct without a transfer
    if (st === SlotState.Claimed && resendable && slots.target[s] !== undefined) requeue(core, s);
    else finishSlot(core, s, false, slots.target[s] === undefined ? undefined : crash);
  }
  Atomics.store(ctl, base + W_INFLIGHT, 0);
  Atomics.store(ctl, base + W_CLAIMING, 0);
  core.deadIndexes.add(e.index);
  recoverClaims(core);
  if (!e.leaving) e.lastError ??= crash;
  // Replace a crashed worker while the pool needs it (work pending, or below minWorkers). One that
  // left on purpose (idle, scaleDown, close) is replaced only if no worker is left for pending work.
  const pending = core.queue.length > 0 || slots.inUse > 0;
  const wanted = e.leaving
    ? pending && core.workerCount === 0
    : pending || (!core.closing && core.workerCount < core.o.minWorkers);
  if (!core.broken && !core.stopped && wanted && core.workerCount < core.o.maxWorkers) spawnWorker(core, stats);
  core.dispatch();
  core.publish();
  notifyIdle(core);
  endResultLoopIfIdle(core);
}

/**
 * Recovers what dead workers left inside a claim (terminated or out of memory between their HEAD
 * CAS and their slot CASes). A claimer names itself on each slot (SLOT_OWNER), then marks the
 * record CONSUMED, then CASes the slot QUEUED -> CLAIMED. So a dead claimer leaves either a record
 * below HEAD not CONSUMED, or a QUEUED slot with its name on it (place() resets the name to -1).
 * Such tasks go back in the rings, or are freed if an abort cancelled them meanwhile; without this
 * they would never settle and their ring would stall at the record.
 *
 * Safe only while no live worker is inside a claim: HEAD is read first, so any claim its value
 * includes had set its worker's CLAIMING before; if one is set, this retries in 1 ms. Claims begun
 * later start at or above that HEAD and touch none of these records or slots.
 */
function recoverClaims(core: PoolCore): void {
  if (core.deadIndexes.size === 0) return;
  const heads: number[] = [];
  for (let p = 1; p <= MAX_PRIORITY; p++) heads[p] = core.rings[p].head();
  for (const e of core.entries) {
    if (e && !e.exited && Atomics.load(core.ctl, WORKERS_AT + e.index * W_STRIDE + W_CLAIMING) !== 0) {
      setTimeout(() => recoverClaims(core), 1).unref();
      return;
    }
  }
  const { ctl, L, slots } = core;
  const lost = new Set<number>();
  for (let p = 1; p <= MAX_PRIORITY; p++) core.rings[p].recoverOrphans(heads[p], (s) => lost.add(s));
  for (let s = 0; s < slots.size; s++) {
    const owner = Atomics.load(ctl, L.slotOwner + s);
    if (Atomics.load(ctl, L.slotState + s) === SlotState.Queued && core.deadIndexes.has(owner)) lost.add(s);
  }
  core.deadIndexes.clear();
  for (const s of lost) {
    const st = Atomics.load(ctl, L.slotState + s);
    if (st === SlotState.Queued) requeue(core, s);
    else if (st === SlotState.Cancelled && !slots.cancelledAfterClaim[s]) finishSlot(core, s, false, undefined);
  }
  if (lost.size > 0) {
    core.dispatch();
    core.publish();
  }
}

/** Puts a claimed-but-not-started task of a dead worker back in its ring (or the queue). */
function requeue(core: PoolCore, s: number): void {
  const { slots } = core;
  const target = slots.target[s] as Target;
  const aux = slots.aux[s];
  const extras = slots.extras[s];
  const prio = slots.priority[s];
  const fnId = slots.fnId[s];
  const input = slots.input[s];
  const enq = core.times[core.L.enq + s];
  Atomics.store(core.ctl, core.L.slotState + s, SlotState.Free);
  slots.release(s);
  if (!core.place(prio, input, fnId, target, aux, extras, enq)) {
    const seq = core.queue.push(prio, input, fnId, target, aux, extras, enq);
    core.ensureResultLoop();
    if (extras?.ticket) extras.ticket.seq = seq;
  }
}

/** Asks a worker to leave once it holds no task (or terminates it now). */
export function retire(core: PoolCore, e: WorkerEntry, terminate: boolean): void {
  e.leaving = true;
  Atomics.store(core.ctl, WORKERS_AT + e.index * W_STRIDE + W_RETIRE, 1);
  wake(core.ctl, TASK_SEQ);
  if (terminate) void e.terminate();
}

/** Dynamic growth: start workers while tasks wait and no worker is idle or starting. */
export function maybeGrow(core: PoolCore, stats: LifecycleStats): void {
  if (core.workerCount >= core.o.maxWorkers || core.closing) return;
  // Room the existing workers have now: a worker between tasks counts as free even before it has
  // marked itself idle, so a trickle of awaited tasks does not grow the pool. Read before the
  // backlog: a worker that claims meanwhile moves a task from backlog to in flight, and reading in
  // this order can then only see it in neither (no growth), never in both (growth for nothing).
  const c = core.o.concurrency;
  let free = stats.starting * c;
  for (const e of core.entries)
    if (e && !e.leaving) free += Math.max(0, c - core.workerWord(e.index, W_INFLIGHT));
  const backlog = core.queue.length + core.ringBacklog();
  if (backlog <= 0) return;
  let want = Math.min(core.o.maxWorkers - core.workerCount, Math.ceil((backlog - free) / c));
  while (want-- > 0) spawnWorker(core, stats);
}

/** Aborts `ctx.signal` of a running task and arms the kill grace of its worker. */
export function abortRunning(core: PoolCore, s: number): void {
  const e = core.entries[Atomics.load(core.ctl, core.L.slotOwner + s)];
  if (!e || e.exited) return;
  core.mail(e, { type: 'abort', slot: s });
  // Each detached task gets its own grace; the sweep kills the worker only when one has run out.
  const due = now() + core.o.killGrace;
  core.slots.killAt[s] = due;
  if (e.killAt === 0 || due < e.killAt) e.killAt = due;
  core.onTimed(core.o.killGrace);
}
