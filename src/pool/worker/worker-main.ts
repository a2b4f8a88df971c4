/**
 * A pool worker's main module: joins a pool through shared memory (worker-boot.ts) and runs tasks
 * until told to stop.
 *
 * Loop: pull mail (messages the main thread posted, read synchronously), claim a batch of tasks from
 * the highest-priority non-empty ring, run them, write results to this worker's result ring, publish
 * and wake the main thread once per batch. When there is nothing to do one idle worker at a time
 * spins up to 50 µs, then sleeps on the task word (memory/wait: bounded, so the event loop still gets
 * turns for the task module's own timers).
 */
import { type MessagePort, parentPort, receiveMessageOnPort } from 'node:worker_threads';
import { fastNow as now } from '../../memory/clock.js';
import { decodeOwned, type Encoded, encode, newEncoded, ownEncoded, payloadLength } from '../../memory/codec.js';
import { CorruptMemoryError } from '../../memory/errors.js';
import { SabTable } from '../../memory/sab-registry.js';
import { reviveDeep } from '../../memory/handle.js';
import { SharedHistogram } from '../../memory/histogram.js';
import { isThenable } from '../../memory/thenable.js';
import { Step, stepHook } from '../../memory/step-hook.js';
import { spinWhileEqualFor, WORKER_IDLE_SPIN_MICROS } from '../../memory/spin.js';
import {
  type Interrupt,
  napSync,
  notifyAll,
  notifyCounted,
  register,
  sleepAsync,
  sleepersOf,
  sleepSync,
  unregister,
  type WaitWord,
} from '../../memory/wait/index.js';
import {
  CLAIMED,
  bareRecord,
  errorToRecord,
  isErrorRecord,
  layoutFor,
  mainWord,
  type MainMessage,
  PRIO_MASK,
  ResultRingWriter,
  ResultStatus,
  sabPrefix,
  SlotState,
  SPINNER,
  STOP,
  TASK_SEQ,
  taskWord,
  TaskRingReader,
  W_CLAIMING,
  W_DONE,
  W_FAILED,
  W_INFLIGHT,
  W_MAIL,
  W_RETIRE,
  W_STATE,
  W_STRIDE,
  wakeWord,
  WORKERS_AT,
  WorkerState,
} from '../shared/index.js';
import { builtinTask, setTaskModule } from './builtin-tasks.js';
import { findTaskFunction, type TaskFunction } from './task-module.js';
import { markPoolWorker } from './is-worker-thread.js';
import { runTeardown } from './life-cycle-hooks.js';
import { Recycling } from './recycling.js';
import { boot } from './worker-boot.js';
import { TaskControls } from './worker-context.js';

if (!parentPort) throw new Error('skein worker-main must run in a worker thread');
const port: MessagePort = parentPort;
markPoolWorker();
const { init, mod } = await boot(port);
setTaskModule(mod, init.filename);

const L = layoutFor(init.slots);
const ctl = new Int32Array(init.ctl);
const tasksMoved = taskWord(ctl);
const tasksMovedList = [tasksMoved];
const resultsMoved = mainWord(ctl);
// Where this worker sleeps while it would claim nothing (shared/layout.ts WAKE).
const asideMoved = wakeWord(ctl, init.index);
const asideMovedList = [asideMoved];
const asideSeens = [0];
const times = new Float64Array(init.times);
const rings = init.rings.map((sab) => (sab ? new TaskRingReader(sab) : undefined));
// Shared buffers the pool shipped to this worker, by id (main/sab-shipper.ts S1..S4).
const sabTable = new SabTable();
sabTable.addAll(init.sabIds, init.sabs);
/** Ids the record being claimed named, then (in `take`) the slot's: results may name only these (S3). */
let recordSabIds: number[] | undefined;
const slotSabIds: (number[] | undefined)[] = [];
/** S2: a buffer a record names was posted to us before the record was published; pull it if it is not here yet. */
function resolveSab(id: number): SharedArrayBuffer {
  let sab = sabTable.get(id);
  if (sab === undefined) {
    pullMail();
    sab = sabTable.get(id);
    if (sab === undefined) throw new CorruptMemoryError(`a task names shared buffer #${id}, which never reached this worker`);
  }
  (recordSabIds ??= []).push(id);
  return sab;
}
for (const r of rings) if (r) r.resolveSab = resolveSab;
const results = new ResultRingWriter(init.results);
const waitHist = new SharedHistogram(init.waitHist);
const runHist = new SharedHistogram(init.runHist);
const me = WORKERS_AT + init.index * W_STRIDE;
const fnNames = init.fnNames.slice();
const fns: (TaskFunction | Error | undefined)[] = [];
const enc = newEncoded();
const concurrency = init.concurrency;

// A task's progress (worker-context.ts taskProgress) refreshes its liveness for the health check.
const controls = new TaskControls(init.workerId, init.slots, (slot) => {
  times[L.progress + slot] = now();
});

function fnFor(id: number): TaskFunction | Error {
  let f = fns[id];
  if (f) return f;
  if (fnNames[id] === undefined) pullMail();
  try {
    const name = fnNames[id] ?? '';
    f = builtinTask(name) ?? findTaskFunction(mod, name, init.filename);
  } catch (err) {
    f = err as Error;
  }
  fns[id] = f;
  return f;
}

// Tasks the main thread posted directly (transfer lists, oversized inputs): already CLAIMED for us.
const direct: { slot: number; fnId: number; input: unknown }[] = [];

function pullMail(): void {
  Atomics.store(ctl, me + W_MAIL, 0);
  for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
    const msg = m.message as MainMessage;
    if (msg.type === 'fn') fnNames[msg.id] = msg.name;
    else if (msg.type === 'task')
      direct.push({
        slot: msg.slot,
        fnId: msg.fnId,
        input: msg.encoded ? decodeOwned(msg.input as Encoded) : reviveDeep(msg.input),
      });
    else if (msg.type === 'abort') controls.abort(msg.slot, msg.gen, msg.timedOut);
    else if (msg.type === 'sabs') sabTable.addAll(msg.ids, msg.sabs);
    else if (msg.type === 'sab-forget') for (const id of msg.ids) sabTable.delete(id);
  }
}

let inflight = 0;
/**
 * Tasks claimed (claim C4) and not yet started or skipped. W_INFLIGHT counts them with the running
 * ones, from the claim on: counted only from the start, a claimed task (no longer in the ring's
 * backlog) counted nowhere while its input was copied out, and `maxQueue` saw room that was not
 * there (task-intake.ts queueFull).
 */
let pending = 0;
function publishInflight(): void {
  Atomics.store(ctl, me + W_INFLIGHT, inflight + pending);
}
let settled: (() => void) | undefined;

// Waking the main thread (an Atomics.notify) costs more than a short task. So results are published
// (made readable) at once, but the main thread is woken only when this worker is about to wait or
// sleep, when its tasks are long enough that the wake-up is cheap beside them, or every 64 results.
// A main thread that is awake reads published results on its own next drain.
let unannounced = 0;
function publish(announce = false): void {
  if (results.publish()) unannounced++;
  if (unannounced > 0 && (announce || runAvg > 0.05 || unannounced >= 64)) {
    unannounced = 0;
    notifyAll(resultsMoved);
  }
}

function writeResult(slot: number, status: ResultStatus, value: unknown): void {
  let e = enc;
  try {
    e = encode(value, enc, 'task result');
  } catch (err) {
    // A result that cannot be copied: SerializationError. An error record that still cannot (a
    // safety net: errorToRecord keeps only cloneable parts) keeps its strings.
    e = encode(status === ResultStatus.Error && isErrorRecord(value) ? bareRecord(value) : errorToRecord(err), enc);
    status = ResultStatus.Error;
  }
  let plen = payloadLength(e);
  const ids = e.sabs ? resultSabIds(e.sabs, slot) : undefined;
  slotSabIds[slot] = undefined;
  if (ids) plen += sabPrefix(ids.length);
  if ((e.sabs && !ids) || plen > results.maxPayload) {
    // As its encoding, not the value: a postMessage would turn a Buffer into a Uint8Array (and
    // `value` is not what `e` holds when it could not be encoded and `e` is its error's record).
    port.postMessage({ type: 'result', slot, status, value: ownEncoded(e), encoded: true });
    return;
  }
  while (!results.tryWrite(slot, status, e, plen, ids)) {
    // The main thread has not read enough yet: hand it what we have and give it a moment.
    publish(true);
    napSync(1);
  }
  // Published at once (one store), announced later in batches: a task that ran keeps its result
  // even if a later task of the same batch kills this worker.
  if (results.publish()) unannounced++;
}

/** The ids of a result's buffers if each came with the task's own input (S3), else undefined. */
function resultSabIds(sabs: SharedArrayBuffer[], slot: number): number[] | undefined {
  const mine = slotSabIds[slot];
  if (!mine) return undefined;
  const ids: number[] = [];
  for (const sab of sabs) {
    const id = sabTable.idOf(sab);
    if (id === undefined || !mine.includes(id)) return undefined;
    ids.push(id);
  }
  return ids;
}

const recycling = new Recycling(init.maxTasks, init.maxMemoryMiB, port);

function finish(slot: number, t0: number, ok: boolean, value: unknown): void {
  const t1 = now();
  runHist.record(t1 - t0);
  times[L.active + init.index] = t1;
  times[L.busy + init.index] += t1 - t0;
  inflight--;
  publishInflight();
  Atomics.add(ctl, me + (ok ? W_DONE : W_FAILED), 1);
  // claim C8: the task's time ends here, not when the main thread reads the result.
  Atomics.store(ctl, L.slotState + slot, SlotState.Finished);
  if (stepHook !== undefined) stepHook(Step.PoolTaskFinished);
  controls.release(slot);
  writeResult(slot, ok ? ResultStatus.Ok : ResultStatus.Error, ok ? value : errorToRecord(value));
  if (stepHook !== undefined) stepHook(Step.PoolResultWritten);
  if (recycling.active) recycling.afterTask();
}

function settleAsync(slot: number, t0: number, ok: boolean, value: unknown): void {
  finish(slot, t0, ok, value);
  publish(true);
  const s = settled;
  settled = undefined;
  s?.();
}

/** Runs one claimed task (or skips it if it was cancelled meanwhile). */
function start(slot: number, fnId: number, input: unknown): void {
  // claim C7: the start time is stored before the CAS that makes the task RUNNING, so a sweep that
  // reads RUNNING reads this task's start, never the slot's previous task's (a false timeout).
  const t0 = now();
  times[L.start + slot] = t0;
  if (
    Atomics.compareExchange(ctl, L.slotState + slot, SlotState.Claimed, SlotState.Running) !==
    SlotState.Claimed
  ) {
    publishInflight(); // a claimed one (its pending count already taken off) that will not run
    writeResult(slot, ResultStatus.Skipped, undefined);
    return;
  }
  if (stepHook !== undefined) stepHook(Step.PoolTaskRunning);
  // claim C7: RUNNING is ours now, so the slot cannot be freed and its generation is this task's.
  controls.begin(slot, Atomics.load(ctl, L.slotGen + slot));
  recycling.started();
  waitHist.record(t0 - times[L.enq + slot]);
  inflight++;
  publishInflight();
  if (fnId < 0) {
    finish(slot, t0, false, input); // the input could not be decoded: `input` is that error
    return;
  }
  const fn = fnFor(fnId);
  if (fn instanceof Error) {
    finish(slot, t0, false, fn);
    return;
  }
  let r: unknown;
  let thenable: boolean;
  try {
    r = fn(input, controls.context(slot));
    thenable = isThenable(r); // reading `then` may throw: the task's failure, as with `await`
  } catch (err) {
    finish(slot, t0, false, err);
    return;
  }
  if (!thenable) {
    finish(slot, t0, true, r);
    return;
  }
  // A native promise is followed as it is. Any other thenable goes through Promise.resolve, which
  // calls its `then` once, takes its first verdict only and turns a throw into a rejection, as
  // `await` does: a slot must be settled once, and a throw here would kill the worker.
  (r instanceof Promise ? r : Promise.resolve(r)).then(
    (v: unknown) => settleAsync(slot, t0, true, v),
    (e: unknown) => settleAsync(slot, t0, false, e),
  );
}

// Claimed batch, held in parallel arrays so claiming allocates nothing per task.
const bSlot: number[] = [];
const bFn: number[] = [];
const bInput: unknown[] = [];
let bLen = 0;
function own(slot: number): void {
  Atomics.store(ctl, L.slotOwner + slot, init.index);
}
function take(slot: number, fnId: number, value: unknown): void {
  slotSabIds[slot] = recordSabIds;
  recordSabIds = undefined;
  // claim C5: the record is CONSUMED and names us; a failed CAS means the main thread cancelled it.
  if (
    Atomics.compareExchange(ctl, L.slotState + slot, SlotState.Queued, SlotState.Claimed) !== SlotState.Queued
  ) {
    if (stepHook !== undefined) stepHook(Step.PoolTaskSkipped);
    pending--;
    publishInflight();
    writeResult(slot, ResultStatus.Skipped, undefined);
    return;
  }
  bSlot[bLen] = slot;
  bFn[bLen] = fnId;
  bInput[bLen++] = value;
}

// Batch size adapts to task length: short tasks are claimed many at a time (fewer CASes on the
// shared head), long ones one at a time (so an idle worker never waits behind another's backlog).
let batch = 1;
let runAvg = 1;

function claimAndRun(room: number): number {
  const mask = Atomics.load(ctl, PRIO_MASK);
  // Never claim past maxTasksPerWorker: the rest is for this worker's successor.
  const want = recycling.active ? Math.min(room, batch, recycling.room()) : Math.min(room, batch);
  if (want <= 0) return 0;
  let n = 0;
  Atomics.store(ctl, me + W_CLAIMING, 1); // claim C4: set before any HEAD CAS, cleared after C5
  for (let p = 10; p >= 1 && n === 0; p--) {
    if ((mask & (1 << p)) !== 0) n = (rings[p] as TaskRingReader).claim(want, take, countClaimed, own);
  }
  Atomics.store(ctl, me + W_CLAIMING, 0);
  if (n > 0) {
    // The main thread wakes as few workers as it publishes tasks; pass the wake-up on while work remains.
    if (sleepersOf(tasksMoved) > 0 && hasWork()) notifyCounted(tasksMoved, 1);
  }
  if (bLen === 0) return n;
  const t0 = now();
  const count = bLen;
  for (let i = 0; i < count; i++) {
    pending--; // start() publishes it with the task counted running, or as skipped
    start(bSlot[i], bFn[i], bInput[i]);
    bInput[i] = undefined;
  }
  bLen = 0;
  runAvg = runAvg * 0.8 + ((now() - t0) / count) * 0.2;
  batch = Math.max(1, Math.min(64, Math.floor(0.2 / Math.max(runAvg, 0.001))));
  return n;
}

function runDirect(): number {
  let n = 0;
  while (direct.length > 0 && inflight < concurrency) {
    const t = direct.shift() as { slot: number; fnId: number; input: unknown };
    start(t.slot, t.fnId, t.input);
    n++;
  }
  return n;
}

function hasWork(): boolean {
  const mask = Atomics.load(ctl, PRIO_MASK);
  for (let p = 10; p >= 1; p--)
    if ((mask & (1 << p)) !== 0 && (rings[p] as TaskRingReader).hasWork()) return true;
  return direct.length > 0;
}

/** Counted at the HEAD CAS, so the main thread's backlog never counts a claimed record twice. */
// claim C4: out of the backlog, then in flight at once: never counted in both (maybeGrow, queueFull).
const countClaimed = (n: number): void => {
  Atomics.add(ctl, CLAIMED, n);
  pending += n;
  publishInflight();
};

/** Ends the async wait below early when an async task settles. */
const taskSettled: Interrupt = { wake: undefined };
const seens = [0];
const wakeOnSettle = (): void => taskSettled.wake?.();

/**
 * Whether something this worker's own wait word announces (shared/layout.ts WAKE) happened since the
 * top of the loop: mail, RETIRE (when `retiring` did not see it), STOP. Read after registering on
 * the word (word.ts invariant 1), so a notify after these reads moves the SEQ it parks on.
 */
function calledAside(retiring: boolean): boolean {
  return (
    Atomics.load(ctl, me + W_MAIL) !== 0 ||
    Atomics.load(ctl, STOP) === 2 ||
    (!retiring && Atomics.load(ctl, me + W_RETIRE) !== 0)
  );
}

/**
 * Test probe (Step.PoolWakeMissed): this claiming worker's sleep ran out its time, yet the task word
 * moved and work waits. Nothing calls it without a step hook installed.
 */
function missedWake(seen: number): void {
  if (Atomics.load(ctl, TASK_SEQ) !== seen && hasWork()) stepHook?.(Step.PoolWakeMissed);
}

const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/** While async tasks run: sleeps until `words` move from `seen` (50 ms at most) or one of them settles. */
async function sleepWhileRunning(words: readonly WaitWord[], seenBox: number[], seen: number): Promise<void> {
  seenBox[0] = seen;
  settled = wakeOnSettle;
  await sleepAsync(words, seenBox, 50, undefined, taskSettled);
  settled = undefined;
}

async function loop(): Promise<void> {
  let lastYield = now();
  Atomics.store(ctl, me + W_STATE, WorkerState.Idle);
  port.postMessage({ type: 'ready' });
  for (;;) {
    const seen = Atomics.load(ctl, TASK_SEQ);
    if (Atomics.load(ctl, me + W_MAIL) !== 0) pullMail();
    if (Atomics.load(ctl, STOP) === 2) return;
    // Asked to leave (scaleDown, the size cap, idle shrink, recycling): nothing more from the rings,
    // only what was posted to us; claiming on while a task ran kept a busy worker from ever leaving.
    const retiring = Atomics.load(ctl, me + W_RETIRE) !== 0;
    // Recycling, not yet told to leave: nothing more from the rings either (Recycling.room()). Nor
    // while a task asked to abort still runs: this worker may be terminated for it at the end of its
    // kill grace, and tasks it started meanwhile would die with it (TaskControls.detached). One
    // that gives up in time lets it claim again; the other workers claim all along.
    const claiming = !retiring && controls.detached === 0 && (!recycling.active || recycling.room() > 0);
    if (retiring && inflight === 0 && direct.length === 0) {
      // The main thread raises a task's MAIL flag before it stops posting to us and sets RETIRE, so a
      // task posted before RETIRE shows here even if MAIL was still down at the top of this turn.
      if (Atomics.load(ctl, me + W_MAIL) !== 0) {
        pullMail();
        if (direct.length > 0) continue;
      }
      Atomics.store(ctl, me + W_STATE, WorkerState.Exited);
      // A wake-up meant for us may have been spent on our leaving: pass it on if work is waiting.
      if (hasWork()) notifyAll(tasksMoved);
      // The main thread terminates us if teardown outlasts its grace: a recycled worker's successor
      // starts only once we are gone, so a teardown that hangs would stall the pool for good.
      port.postMessage({ type: 'leaving' });
      await runTeardown(mod);
      process.exit(0);
    }
    let n = runDirect();
    if (inflight < concurrency && claiming) n += claimAndRun(concurrency - inflight);
    publish(n === 0);
    if (n > 0) {
      Atomics.store(ctl, me + W_STATE, WorkerState.Busy);
      if (now() - lastYield > 20) {
        await yieldToLoop();
        lastYield = now();
      }
      continue;
    }
    if (inflight > 0 && (!claiming || inflight >= concurrency)) {
      // Async tasks are running and it would claim nothing if woken for a task (it runs as many as
      // it may, or it is recycling or leaving): wait for one to settle, or for mail, aside from the
      // task word (word.ts invariant 6; shared/layout.ts WAKE).
      const s = register(asideMoved);
      if (calledAside(retiring)) {
        unregister(asideMoved);
        continue;
      }
      await sleepWhileRunning(asideMovedList, asideSeens, s);
      lastYield = now();
      continue;
    }
    if (inflight > 0) {
      // Async tasks are running: wait for one to settle or for new work, without blocking the loop.
      // Registered now, parked on the SEQ read at the top of the loop: TASK_SEQ writers always bump
      // it, so a publish since then shows as a moved SEQ. A sleep that a settling task interrupts
      // leaves its park lingering (word.ts invariant 6), and this loop looks for work before it
      // sleeps again.
      if (register(tasksMoved) !== seen) {
        unregister(tasksMoved);
        continue;
      }
      await sleepWhileRunning(tasksMovedList, seens, seen);
      lastYield = now();
      continue;
    }
    Atomics.store(ctl, me + W_STATE, WorkerState.Idle);
    // One idle worker at a time spins before sleeping: it catches the next task without a wake-up,
    // and the others sleep, so spinners never crowd out the main thread on a machine with few cores.
    // A worker that claims nothing more is no spinner (the main thread leaves a publish to the spinner
    // to claim), and work in the rings is not its to wait for.
    let woke = false;
    if (claiming && Atomics.compareExchange(ctl, SPINNER, 0, init.index + 1) === 0) {
      woke = spinWhileEqualFor(ctl, TASK_SEQ, seen, WORKER_IDLE_SPIN_MICROS);
      Atomics.store(ctl, SPINNER, 0);
    }
    if (!woke && !(claiming ? hasWork() : direct.length > 0)) {
      if (!claiming) {
        // Recycling and not yet told to leave: it waits for its RETIRE (or mail) aside, as above.
        const s = register(asideMoved);
        if (calledAside(retiring)) unregister(asideMoved);
        else sleepSync(asideMoved, s, 50);
      } else if (register(tasksMoved) !== seen) {
        // As above: registered, then parked on the SEQ of the top of the loop unless it moved.
        unregister(tasksMoved);
      } else if (sleepSync(tasksMoved, seen, 50) === 'timed-out' && stepHook !== undefined) {
        missedWake(seen);
      }
    }
    if (now() - lastYield > 50) {
      await yieldToLoop();
      lastYield = now();
    }
  }
}

await loop();
await runTeardown(mod); // a graceful close (a forced one terminates the thread first)
process.exit(0);
