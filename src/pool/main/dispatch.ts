/**
 * Dispatch: how a task reaches the workers, and everything the main thread does per task.
 *
 * Per task the main thread encodes the input, writes one record into the ring of the task's
 * priority and stores its resolvers in a slot: no message, no syscall, no O(n) queue operation.
 * Records are published (one `Atomics.store`) and sleeping workers woken (one notify, only if some
 * sleep) once per burst of submits, in a microtask. An input holding shared memory rides the rings
 * too: its buffers go to each worker once, and its record names them by id (sab-shipper.ts).
 * `postMessage` is kept for what rings cannot carry: transfer lists and oversized values.
 *
 * It owns the task rings, the function ids, the publish and flush state and the main thread's
 * result spin; settlement and the lifecycle reach it through {@link Placer}.
 * Internal to the pool (not exported from the package root).
 */
import type { TransferListItem } from 'node:worker_threads';
import { fastNow as now } from '../../memory/clock.js';
import { type Encoded, encode, newEncoded, payloadLength } from '../../memory/codec.js';
import { bump, notifyAll, notifyCounted, sleepersOf } from '../../memory/wait/index.js';
import {
  createRing,
  type MainMessage,
  PRIO_MASK,
  SlotState,
  SPINNER,
  sabPrefix,
  taskWord,
  TaskRingWriter,
  W_INFLIGHT,
  W_MAIL,
  CLAIMED,
} from '../shared/index.js';
import { isEncoded } from './encoded-input.js';
import type { ResolvedOptions } from './options.js';
import type { PoolMemory } from './pool-memory.js';
import type { Placer, Settler, WorkerView } from './ports.js';
import { ResultSpin, type SpinState } from './result-spin.js';
import { SabShipper } from './sab-shipper.js';
import { type Aux, DEFAULT_PRIORITY, MAX_PRIORITY, type Target, type TaskExtras } from './task-queue.js';
import type { WorkerEntry } from './worker-entry.js';

const DEFAULT_RING = 1 << 20;
const OTHER_RING = 1 << 17;
/** Publish early inside a long synchronous burst of submits, so workers start before it ends. */
const EARLY_PUBLISH = 256;

/** What dispatch tells the rest of the pool (pool-core.ts joins them). */
export interface DispatchHooks {
  /** After each flush (the lifecycle grows a dynamic pool here). */
  afterFlush(): void;
  /** A slot with a timeout of `ms` was filled (the sweep shortens its period). */
  timed(ms: number): void;
}

export class Dispatcher implements Placer {
  readonly #rings: TaskRingWriter[] = [];
  readonly #fnNames: string[] = [''];
  readonly #fnIds = new Map<string, number>([['', 0]]);
  readonly #enc: Encoded = newEncoded();
  #ringWritten = 0;
  #unpublished = 0;
  #burstAt = 0;
  #flushScheduled = false;
  /** Whether, at the last publish, some worker was awake (spinning or busy) rather than asleep. */
  #workerAwake = false;
  readonly spin: ResultSpin;
  readonly #spinState: SpinState;
  readonly #shipper: SabShipper;

  constructor(
    private readonly mem: PoolMemory,
    private readonly o: ResolvedOptions,
    private readonly settler: Settler,
    private readonly workers: WorkerView,
    private readonly hooks: DispatchHooks,
  ) {
    for (let p = 1; p <= MAX_PRIORITY; p++) {
      this.#rings[p] = new TaskRingWriter(createRing(p === DEFAULT_PRIORITY ? DEFAULT_RING : OTHER_RING));
    }
    this.spin = new ResultSpin(o.spinMicros, o.spinAuto);
    this.#shipper = new SabShipper((msg) => {
      for (const e of workers.entries) if (e && !e.exited) this.mail(e, msg);
    });
    this.#spinState = {
      backlog: () => mem.queue.length > 0 || mem.slots.inUse > workers.workerCount * o.concurrency,
      workerAwake: () => this.#workerAwake,
      drain: () => settler.drain(),
    };
  }

  // ---------------------------------------------------------------- what new workers need

  fnNamesNow(): string[] {
    return this.#fnNames.slice();
  }

  /** The largest input payload priority `p`'s ring takes as a record (larger ones are posted). */
  maxPayload(p: number): number {
    return this.#rings[p].maxPayload;
  }

  ringSabs(): SharedArrayBuffer[] {
    return this.#rings.map((r) => r?.sab);
  }

  sabsForInit(): { sabIds: number[]; sabs: SharedArrayBuffer[] } {
    return this.#shipper.forInit();
  }

  resolveSab(id: number): SharedArrayBuffer {
    return this.#shipper.resolve(id);
  }

  /** Shared buffers the workers hold for this pool now. */
  get shippedBuffers(): number {
    return this.#shipper.size;
  }

  ringHeads(): number[] {
    const heads: number[] = [];
    for (let p = 1; p <= MAX_PRIORITY; p++) heads[p] = this.#rings[p].head();
    return heads;
  }

  recoverOrphans(heads: number[], orphan: (slot: number) => void): void {
    for (let p = 1; p <= MAX_PRIORITY; p++) this.#rings[p].recoverOrphans(heads[p], orphan);
  }

  // ---------------------------------------------------------------- submitting

  fnId(name: string): number {
    let id = this.#fnIds.get(name);
    if (id === undefined) {
      id = this.#fnNames.push(name) - 1;
      this.#fnIds.set(name, id);
      for (const e of this.workers.entries) if (e && !e.exited) this.mail(e, { type: 'fn', id, name });
    }
    return id;
  }

  ringBacklog(): number {
    // Records of aborted tasks wait in the rings until a worker skips them, but are no task waiting
    // (they held maxQueue's room and showed in getQueueLength). One claimed and not yet read back
    // counts in neither for that moment, hence the floor.
    const n = ((this.#ringWritten - Atomics.load(this.mem.ctl, CLAIMED)) | 0) - this.mem.slots.cancelledInRing;
    return Math.max(0, n);
  }

  place(
    priority: number,
    stored: unknown,
    fnId: number,
    target: Target,
    aux: Aux,
    extras: TaskExtras | undefined,
    enqueued: number,
  ): boolean {
    const { mem } = this;
    const slots = mem.slots;
    if (!slots.hasFree) return false;
    // `stored` is a primitive, an object's encoding (made at submit), or a raw object with a transfer list.
    const enc = extras?.transfer ? undefined : isEncoded(stored) ? stored : encode(stored, this.#enc);
    const ring = this.#rings[priority];
    let plen = enc ? payloadLength(enc) : 0;
    let sabIds: number[] | undefined;
    if (enc !== undefined && enc.sabs !== null && plen + sabPrefix(enc.sabs.length) <= ring.maxPayload) {
      // Ships the buffers new to the workers before the record exists (sab-shipper.ts S1).
      sabIds = this.#shipper.ship(enc.sabs);
      plen += sabPrefix(sabIds.length);
    }
    if (enc === undefined || (enc.sabs !== null && sabIds === undefined) || plen > ring.maxPayload) {
      return this.#placeDirect(priority, stored, fnId, target, aux, extras, enqueued);
    }
    const s = slots.alloc();
    if (!ring.tryWrite(s, fnId, enc, plen, sabIds)) {
      slots.release(s);
      return false;
    }
    this.#ringWritten++;
    // No claimer yet (claim C9); the record is visible only at publish (C2).
    this.#fill(s, -1, SlotState.Queued, enqueued, priority, fnId, target, aux, extras, stored);
    const ctl = mem.ctl;
    if ((ctl[PRIO_MASK] & (1 << priority)) === 0) Atomics.or(ctl, PRIO_MASK, 1 << priority);
    if (++this.#unpublished >= EARLY_PUBLISH) this.publish();
    return true;
  }

  placeOrQueue(
    priority: number,
    stored: unknown,
    fnId: number,
    target: Target,
    aux: Aux,
    extras: TaskExtras | undefined,
    enqueued: number,
  ): void {
    if (this.place(priority, stored, fnId, target, aux, extras, enqueued)) return;
    const seq = this.mem.queue.push(priority, stored, fnId, target, aux, extras, enqueued);
    if (extras?.ticket) extras.ticket.seq = seq;
    this.settler.ensureResultLoop(); // it keeps the process alive while anything waits, placed or not
  }

  /**
   * Takes slot `s` for a task, by ring (`Queued`, no owner) or by message (`Claimed` by its worker):
   * claim C1, owner, generation, then the state; then what settling it needs, on this thread only.
   */
  #fill(
    s: number,
    owner: number,
    state: SlotState,
    enqueued: number,
    priority: number,
    fnId: number,
    target: Target,
    aux: Aux,
    extras: TaskExtras | undefined,
    input: unknown,
  ): void {
    const { mem } = this;
    mem.times[mem.L.enq + s] = enqueued;
    mem.setSlotOwner(s, owner);
    mem.nextSlotGen(s);
    mem.setSlotState(s, state);
    const slots = mem.slots;
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
        this.hooks.timed(t);
      }
    }
    this.settler.ensureResultLoop();
  }

  /** Posts a task to the least busy worker with room (transfer lists, oversized inputs). */
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
    const { mem } = this;
    let best: WorkerEntry | undefined;
    let bestLoad = this.o.concurrency;
    for (const e of this.workers.entries) {
      if (!e || e.exited || e.leaving || !e.ready) continue;
      const load = mem.workerWord(e.index, W_INFLIGHT) + e.direct;
      if (load < bestLoad) {
        best = e;
        bestLoad = load;
      }
    }
    if (!best) return false;
    const s = mem.slots.alloc();
    // An input encoded at submit goes as its encoding, decoded in the worker as a ring record is: a
    // postMessage of the value would turn a Buffer in it into a Uint8Array (tasks that fit the ring
    // get Buffers). Its bytes are its own (task-intake.ts `ownBytes`).
    const encoded = !extras?.transfer && isEncoded(stored);
    const input = encoded ? { tag: stored.tag, num: stored.num, bytes: stored.bytes, sabs: stored.sabs } : stored;
    // Claimed on the worker's behalf (it starts at C7). The input is kept (unless its buffers were
    // transferred) to resend it if the worker dies first.
    const kept = extras?.transfer ? undefined : stored;
    this.#fill(s, best.index, SlotState.Claimed, enqueued, priority, fnId, target, aux, extras, kept);
    mem.slots.direct[s] = 1;
    best.direct++;
    try {
      this.mail(best, { type: 'task', slot: s, fnId, input, encoded }, extras?.transfer);
    } catch (err) {
      this.settler.finishSlot(s, false, err);
    }
    return true;
  }

  mail(e: WorkerEntry, msg: MainMessage, transfer?: readonly TransferListItem[]): void {
    e.worker.postMessage(msg, transfer as TransferListItem[] | undefined);
    this.mem.setWorkerWord(e.index, W_MAIL, 1);
    notifyAll(taskWord(this.mem.ctl));
    notifyAll(e.wake); // where it sleeps while it claims nothing (shared/layout.ts WAKE)
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
      this.hooks.afterFlush();
      this.spin.afterFlush(this.#spinState);
    });
  }

  /** Makes written records visible and wakes sleeping workers (one notify at most). */
  publish(): void {
    let any = false;
    for (let p = 1; p <= MAX_PRIORITY; p++) if (this.#rings[p].publish()) any = true;
    if (any) {
      // Wake as many sleeping workers as there are new tasks (a worker that finds more passes the
      // wake-up on), not all of them for one task, less the one spinning worker: it sees TASK_SEQ
      // change before it can sleep (it clears SPINNER, then counts itself a sleeper, then re-reads
      // TASK_SEQ; this add comes before our SPINNER load, so before its clear, so before its re-read).
      // A spinner that is leaving or being terminated may never claim, so it does not count. A
      // sleeper that would not claim (full, recycling, leaving) sleeps on its own word, not this one
      // (shared/layout.ts WAKE), so every wake-up counted here goes to a worker that claims.
      const ctl = this.mem.ctl;
      // The notify is counted (memory/wait/word.ts invariant 6: it adds the lingering parks itself).
      const moved = taskWord(ctl);
      bump(moved);
      const sp = Atomics.load(ctl, SPINNER);
      const spinner = sp > 0 ? this.workers.entryAt(sp - 1) : undefined;
      const spinning = spinner !== undefined && !spinner.exited && !spinner.leaving && !spinner.killed;
      const sleepers = sleepersOf(moved);
      notifyCounted(moved, Math.max(1, this.#unpublished) - (spinning ? 1 : 0));
      this.#workerAwake = sp > 0 || sleepers < this.workers.workerCount;
    }
    this.#unpublished = 0;
  }

  /** Moves queued tasks into free slots and ring space, highest priority first. */
  dispatch(): void {
    const q = this.mem.queue;
    for (let d = q.peek(); d; d = q.peek()) {
      const i = d.head & d.mask;
      if (!this.place(d.priority, d.input[i], d.fn[i], d.target[i] as Target, d.aux[i], d.headExtras(), d.enq[i]))
        break;
      q.take(d);
    }
    if (q.length === 0) this.settler.notifyIdle();
  }

  refill(): void {
    this.dispatch();
    this.publish();
  }
}
