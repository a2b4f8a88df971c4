/**
 * The pool's dispatch core: everything the main thread does per task.
 *
 * Per task the main thread encodes the input, writes one record into the ring of the task's
 * priority and stores its resolvers in a slot: no message, no syscall, no O(n) queue operation.
 * Records are published (one `Atomics.store`) and sleeping workers woken (one notify, only if some
 * sleep) once per burst of submits, in a microtask. Results come back through one ring per worker;
 * the main thread sleeps in `Atomics.waitAsync` and drains every ring once per wake-up, settling
 * results in batches. `postMessage` is kept for what rings cannot carry: transfer lists, oversized
 * values and shared objects.
 *
 * Worker lifecycle (worker-lifecycle.ts), timeouts (sweep.ts) and aborts (abort-watch.ts)
 * work on this core; `WorkerPool` is the public face.
 * Internal (not exported from the package root).
 */
import type { TransferListItem } from 'node:worker_threads';
import { fastNow as now } from '../../memory/clock.js';
import { type Encoded, encode, newEncoded, payloadLength } from '../../memory/codec.js';
import { wake } from '../../memory/wait.js';
import { decodeEncoded, isEncoded } from './encoded-input.js';
import {
  ASYNC_WAITERS,
  CLAIMED,
  createRing,
  type Layout,
  layoutFor,
  type MainMessage,
  PRIO_MASK,
  SlotState,
  SPINNER,
  TASK_SEQ,
  TaskRingWriter,
  W_INFLIGHT,
  W_MAIL,
  W_STRIDE,
  WORKERS_AT,
} from '../shared/index.js';
import type { ResolvedOptions } from './options.js';
import { runResultLoop } from './result-loop.js';
import { ResultSpin } from './result-spin.js';
import { finishResult, finishSlot, notifyIdle } from './settlement.js';
import { SlotTable } from './slot-table.js';
import {
  type Aux,
  DEFAULT_PRIORITY,
  MAX_PRIORITY,
  type Target,
  type TaskExtras,
  TaskQueue,
} from './task-queue.js';
import type { IndexMemory, WorkerEntry } from './worker-entry.js';

const DEFAULT_RING = 1 << 20;
const OTHER_RING = 1 << 17;
/** Publish early inside a long synchronous burst of submits, so workers start before it ends. */
const EARLY_PUBLISH = 256;

export class PoolCore {
  readonly L: Layout;
  readonly ctlSab: SharedArrayBuffer;
  readonly timesSab: SharedArrayBuffer;
  readonly ctl: Int32Array;
  readonly times: Float64Array;
  readonly rings: TaskRingWriter[] = [];
  readonly slots: SlotTable;
  readonly queue = new TaskQueue();
  readonly fnNames: string[] = [''];
  readonly entries: (WorkerEntry | undefined)[] = [];
  readonly indexMem: IndexMemory[] = [];
  readonly #fnIds = new Map<string, number>([['', 0]]);
  readonly #enc: Encoded = newEncoded();
  workerCount = 0;
  completed = 0;
  failed = 0;
  closing = false;
  /** Indexes of workers that died since their unclaimed records were last recovered. */
  readonly deadIndexes = new Set<number>();
  /** STOP = 2 was set: workers are being terminated and never replaced. */
  stopped = false;
  broken: Error | undefined;
  idleWaiters: (() => void)[] = [];
  /** Re-checks idleWaiters while there are any (settlement.ts `waitFor`). */
  idlePoll: ReturnType<typeof setInterval> | undefined;
  #ringWritten = 0;
  #unpublished = 0;
  #burstAt = 0;
  #flushScheduled = false;
  readonly spin: ResultSpin;
  /** Whether, at the last publish, some worker was awake (spinning or busy) rather than asleep. */
  workerAwake = false;
  /** Whether the result loop (result-loop.ts) is running. */
  looping = false;
  /** Called after each flush (the lifecycle grows a dynamic pool here). */
  afterFlush: () => void = () => {};
  /** Called when a slot with a timeout is filled (the sweep shortens its period). */
  onTimed: (ms: number) => void = () => {};

  constructor(readonly o: ResolvedOptions) {
    this.L = layoutFor(o.slots);
    this.ctlSab = new SharedArrayBuffer(this.L.ctlInts * 4);
    this.timesSab = new SharedArrayBuffer(this.L.timesDoubles * 8);
    this.ctl = new Int32Array(this.ctlSab);
    this.times = new Float64Array(this.timesSab);
    for (let p = 1; p <= MAX_PRIORITY; p++) {
      this.rings[p] = new TaskRingWriter(createRing(p === DEFAULT_PRIORITY ? DEFAULT_RING : OTHER_RING));
    }
    this.slots = new SlotTable(o.slots);
    this.spin = new ResultSpin(o.spinMicros, o.spinAuto);
  }

  workerWord(index: number, field: number): number {
    return Atomics.load(this.ctl, WORKERS_AT + index * W_STRIDE + field);
  }

  // ---------------------------------------------------------------- submitting

  fnId(name: string): number {
    let id = this.#fnIds.get(name);
    if (id === undefined) {
      id = this.fnNames.push(name) - 1;
      this.#fnIds.set(name, id);
      for (const e of this.entries) if (e && !e.exited) this.mail(e, { type: 'fn', id, name });
    }
    return id;
  }

  /** Tasks written to the rings and not yet claimed by a worker. */
  ringBacklog(): number {
    return (this.#ringWritten - Atomics.load(this.ctl, CLAIMED)) | 0;
  }

  /**
   * Hands a task to the workers: a ring record, or a message to one worker. False if there is no
   * room (no free slot, or its ring is full); the caller keeps it queued.
   */
  place(
    priority: number,
    stored: unknown,
    fnId: number,
    target: Target,
    aux: Aux,
    extras: TaskExtras | undefined,
    enqueued: number,
  ): boolean {
    const slots = this.slots;
    if (!slots.hasFree) return false;
    // `stored` is a primitive, an object's encoding (made at submit), or a raw object with a transfer list.
    const enc = extras?.transfer ? undefined : isEncoded(stored) ? stored : encode(stored, this.#enc);
    const ring = this.rings[priority];
    const plen = enc ? payloadLength(enc) : 0;
    if (enc === undefined || enc.sabs !== null || plen > ring.maxPayload) {
      return this.#placeDirect(priority, stored, fnId, target, aux, extras, enqueued);
    }
    const s = slots.alloc();
    if (!ring.tryWrite(s, fnId, enc, plen)) {
      slots.release(s);
      return false;
    }
    this.#ringWritten++;
    this.times[this.L.enq + s] = enqueued;
    Atomics.store(this.ctl, this.L.slotOwner + s, -1); // no claimer yet (worker-lifecycle.ts recoverClaims)
    Atomics.store(this.ctl, this.L.slotState + s, SlotState.Queued);
    this.#fill(s, priority, fnId, target, aux, extras, stored);
    if ((this.ctl[PRIO_MASK] & (1 << priority)) === 0) Atomics.or(this.ctl, PRIO_MASK, 1 << priority);
    if (++this.#unpublished >= EARLY_PUBLISH) this.publish();
    return true;
  }

  #fill(
    s: number,
    priority: number,
    fnId: number,
    target: Target,
    aux: Aux,
    extras: TaskExtras | undefined,
    input: unknown,
  ): void {
    const slots = this.slots;
    slots.target[s] = target;
    slots.aux[s] = aux;
    slots.input[s] = input;
    slots.fnId[s] = fnId;
    slots.priority[s] = priority;
    if (extras) {
      slots.extras[s] = extras;
      if (extras.ticket) extras.ticket.slot = s;
      const t = extras.timeout ?? 0;
      if (t > 0) {
        slots.timeout[s] = t;
        slots.timed++;
        this.onTimed(t);
      }
    }
    this.ensureResultLoop();
  }

  /** Posts a task to the least busy worker with room (transfer lists, oversized or shared-object inputs). */
  #placeDirect(
    priority: number,
    stored: unknown,
    fnId: number,
    target: Target,
    aux: Aux,
    extras: TaskExtras | undefined,
    enqueued: number,
  ): boolean {
    // Only to a worker with room: a task posted to a busy one would wait behind its work while
    // another goes idle. Without room it stays queued, and the next result or exit places it.
    let best: WorkerEntry | undefined;
    let bestLoad = this.o.concurrency;
    for (const e of this.entries) {
      if (!e || e.exited || e.leaving || !e.ready) continue;
      const load = this.workerWord(e.index, W_INFLIGHT) + e.direct;
      if (load < bestLoad) {
        best = e;
        bestLoad = load;
      }
    }
    if (!best) return false;
    const s = this.slots.alloc();
    const input = !extras?.transfer && isEncoded(stored) ? decodeEncoded(stored) : stored;
    this.times[this.L.enq + s] = enqueued;
    Atomics.store(this.ctl, this.L.slotOwner + s, best.index);
    Atomics.store(this.ctl, this.L.slotState + s, SlotState.Claimed);
    // The input is kept (unless its buffers were transferred) to resend it if the worker dies first.
    this.#fill(s, priority, fnId, target, aux, extras, extras?.transfer ? undefined : stored);
    this.slots.direct[s] = 1;
    best.direct++;
    try {
      this.mail(best, { type: 'task', slot: s, fnId, input }, extras?.transfer);
    } catch (err) {
      finishSlot(this, s, false, err);
    }
    return true;
  }

  /** Posts a message to a worker and raises its MAIL flag; the worker pulls it synchronously. */
  mail(e: WorkerEntry, msg: MainMessage, transfer?: readonly TransferListItem[]): void {
    e.worker.postMessage(msg, transfer as TransferListItem[] | undefined);
    Atomics.store(this.ctl, WORKERS_AT + e.index * W_STRIDE + W_MAIL, 1);
    wake(this.ctl, TASK_SEQ);
  }

  /** The enqueue time of a submit: read once per burst of submits (a burst shares one flush). */
  tick(): number {
    if (!this.#flushScheduled) this.#burstAt = now();
    return this.#burstAt;
  }

  scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.publish();
      this.afterFlush();
      this.spin.afterFlush(this);
    });
  }

  /** Makes written records visible and wakes sleeping workers (one notify at most). */
  publish(): void {
    let any = false;
    for (let p = 1; p <= MAX_PRIORITY; p++) if (this.rings[p].publish()) any = true;
    if (any) {
      // Wake as many sleeping workers as there are new tasks (a worker that finds more passes the
      // wake-up on), not all of them for one task, less the one spinning worker: it sees TASK_SEQ
      // change before it can sleep (it clears SPINNER, then counts itself a sleeper, then re-reads
      // TASK_SEQ; this add comes before our SPINNER load, so before its clear, so before its re-read).
      // A spinner that is leaving or being terminated may never claim, so it does not count.
      const ctl = this.ctl;
      Atomics.add(ctl, TASK_SEQ, 1);
      const sp = Atomics.load(ctl, SPINNER);
      const spinner = sp > 0 ? this.entries[sp - 1] : undefined;
      const spinning = spinner !== undefined && !spinner.exited && !spinner.leaving && !spinner.killed;
      const sleepers = Atomics.load(ctl, TASK_SEQ + 1);
      const asyncWaiters = Atomics.load(ctl, ASYNC_WAITERS);
      const toWake = Math.max(1, this.#unpublished) - (spinning ? 1 : 0);
      if (sleepers + asyncWaiters > 0 && toWake > 0) Atomics.notify(ctl, TASK_SEQ, toWake + asyncWaiters);
      this.workerAwake = sp > 0 || sleepers < this.workerCount;
    }
    this.#unpublished = 0;
  }

  /** Moves queued tasks into free slots and ring space, highest priority first. */
  dispatch(): void {
    const q = this.queue;
    for (let d = q.peek(); d; d = q.peek()) {
      const i = d.head & d.mask;
      if (
        !this.place(
          d.priority,
          d.input[i],
          d.fn[i],
          d.target[i] as Target,
          d.aux[i],
          d.headExtras(),
          d.enq[i],
        )
      )
        break;
      q.take(d);
    }
    if (q.length === 0) notifyIdle(this);
  }

  // ---------------------------------------------------------------- results (settlement.ts)

  ensureResultLoop(): void {
    if (!this.looping) runResultLoop(this);
  }

  readonly onResult = (slot: number, status: number, value: unknown, decodeError: unknown): void => {
    if (decodeError !== undefined) finishSlot(this, slot, false, decodeError);
    else finishResult(this, slot, status, value);
  };
}
