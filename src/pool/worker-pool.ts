/**
 * `WorkerPool`: worker threads fed through shared-memory rings.
 *
 * Per task the main thread encodes the input, writes one record into the ring of the task's
 * priority and stores its resolvers in a slot: no message, no syscall, no O(n) queue operation.
 * Records are published (one `Atomics.store`) and sleeping workers woken (one notify, only if some
 * sleep) once per burst of submits, in a microtask. Workers pull batches, so an idle worker never
 * waits while another has a backlog. Results come back through one ring per worker; the main thread
 * sleeps in `Atomics.waitAsync` and drains every ring once per wake-up, settling results in batches.
 * `postMessage` is kept for what rings cannot carry: transfer lists, oversized values, shared objects.
 */
import { now } from '../memory/clock.js';
import { decode, type Encoded, encode, newEncoded, payloadLength, Tag } from '../memory/codec.js';
import { AbortError, TimeoutError } from '../memory/errors.js';
import { reviveDeep } from '../memory/handle.js';
import { SharedHistogram, summarize } from '../memory/histogram.js';
import { holdLoop, releaseLoop, wake } from '../memory/wait.js';
import { BatchCollector, mapThroughPool } from './batch.js';
import { isErrorRecord, recordToError } from './error-codec.js';
import { PoolClosedError, QueueFullError, WorkerCrashedError, WorkerModuleError } from './errors.js';
import {
  CLAIMED,
  type Layout,
  layoutFor,
  MAIN_SEQ,
  type MainMessage,
  MAX_WORKER_INDEX,
  PRIO_MASK,
  ResultStatus,
  SlotState,
  STOP,
  TASK_SEQ,
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
} from './layout.js';
import type { HealthStatus, PoolMetrics } from './pool-metrics.js';
import { checkSubmit, type ResolvedOptions, resolveOptions, type SubmitOptions, type WorkerPoolOptions } from './pool-options.js';
import { createRing, ResultRingReader, TaskRingWriter } from './ring.js';
import { SlotTable } from './slot-table.js';
import { type Aux, DEFAULT_PRIORITY, MAX_PRIORITY, type Target, type TaskExtras, TaskQueue } from './task-queue.js';
import { type IndexMemory, WorkerEntry } from './worker-entry.js';

const DEFAULT_RING = 1 << 20;
const OTHER_RING = 1 << 17;
const RESULT_RING = 1 << 20;
/** Publish early inside a long synchronous burst of submits, so workers start before it ends. */
const EARLY_PUBLISH = 256;

/**
 * A pool of worker threads running the functions of one task module.
 *
 * @example
 * ```ts
 * const pool = new WorkerPool({ filename: new URL('./hash.js', import.meta.url) });
 * const digest = await pool.submit(buffer, { fn: 'sha256', priority: 8, timeout: 1000 });
 * const all = await pool.submitBatch(inputs);
 * for await (const out of pool.map(lines, { ordered: false })) console.log(out);
 * await pool.close();
 * ```
 */
export class WorkerPool {
  readonly #o: ResolvedOptions;
  readonly #L: Layout;
  readonly #ctl: Int32Array;
  readonly #times: Float64Array;
  readonly #ctlSab: SharedArrayBuffer;
  readonly #timesSab: SharedArrayBuffer;
  readonly #rings: TaskRingWriter[] = [];
  readonly #slots: SlotTable;
  readonly #queue = new TaskQueue();
  readonly #enc: Encoded = newEncoded();
  readonly #fnIds = new Map<string, number>([['', 0]]);
  readonly #fnNames: string[] = [''];
  readonly #entries: (WorkerEntry | undefined)[] = [];
  readonly #indexMem: IndexMemory[] = [];
  #workerCount = 0;
  #peakWorkers = 0;
  #nextWorkerId = 1;
  #starting = 0;
  #unpublished = 0;
  #ringWritten = 0;
  #flushScheduled = false;
  #looping = false;
  #completed = 0;
  #failed = 0;
  #closing = false;
  #closed: Promise<void> | undefined;
  #broken: Error | undefined;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #idleWaiters: (() => void)[] = [];
  #startedAt = now();

  constructor(options: WorkerPoolOptions, dynamic = false) {
    this.#o = resolveOptions(options, dynamic);
    this.#L = layoutFor(this.#o.slots);
    this.#ctlSab = new SharedArrayBuffer(this.#L.ctlInts * 4);
    this.#timesSab = new SharedArrayBuffer(this.#L.timesDoubles * 8);
    this.#ctl = new Int32Array(this.#ctlSab);
    this.#times = new Float64Array(this.#timesSab);
    for (let p = 1; p <= MAX_PRIORITY; p++) {
      this.#rings[p] = new TaskRingWriter(createRing(p === DEFAULT_PRIORITY ? DEFAULT_RING : OTHER_RING));
    }
    this.#slots = new SlotTable(this.#o.slots);
    for (let i = 0; i < this.#o.minWorkers; i++) this.#spawn();
    const every = Math.max(5, Math.min(1000, this.#o.idleTimeout / 4));
    this.#sweeper = setInterval(() => this.#sweep(), every);
    this.#sweeper.unref();
  }

  // ---------------------------------------------------------------- submitting

  /** Runs `input` through the module's function (`opts.fn`, default export by default). */
  submit<R = unknown>(input: unknown, opts?: SubmitOptions): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#submitOne(input, opts, resolve as (v: unknown) => void, reject);
    });
  }

  #submitOne(input: unknown, opts: SubmitOptions | undefined, target: Target, aux: Aux): void {
    if (this.#closing || this.#broken) {
      this.#settle(target, aux, false, this.#broken ?? new PoolClosedError('the pool is closed'));
      return;
    }
    let priority = DEFAULT_PRIORITY;
    let fnId = 0;
    let extras: TaskExtras | undefined;
    let enc: Encoded | undefined;
    try {
      if (opts !== undefined) {
        priority = checkSubmit(opts);
        if (opts.fn !== undefined) fnId = this.#fnId(opts.fn);
        const timeout = opts.timeout ?? this.#o.taskTimeout;
        if (opts.signal || opts.transfer || timeout > 0) {
          extras = { signal: opts.signal, timeout, transfer: opts.transfer };
        }
        if (opts.signal?.aborted) throw new AbortError('the task was aborted before it was queued', { cause: opts.signal.reason });
      } else if (this.#o.taskTimeout > 0) {
        extras = { timeout: this.#o.taskTimeout };
      }
      if (this.#queueFull()) {
        throw new QueueFullError(`the pool's queue is full (maxQueue ${this.#o.maxQueue}); await pool.drain() for room`);
      }
      // Objects are encoded now, so an uncloneable input fails here, at the caller.
      if (typeof input === 'object' && input !== null && !extras?.transfer) enc = markEncoded(encode(input, newEncoded()));
    } catch (err) {
      this.#settle(target, aux, false, err);
      return;
    }
    const stored = enc ?? input;
    if (extras?.signal) this.#watch(extras, priority, target, aux);
    if (this.#queue.length === 0 && this.#place(priority, stored, fnId, target, aux, extras, now())) {
      this.#scheduleFlush();
      return;
    }
    const seq = this.#queue.push(priority, stored, fnId, target, aux, extras, now());
    if (extras?.ticket) extras.ticket.seq = seq;
    this.#scheduleFlush();
  }

  #fnId(name: string): number {
    let id = this.#fnIds.get(name);
    if (id === undefined) {
      id = this.#fnNames.push(name) - 1;
      this.#fnIds.set(name, id);
      for (const e of this.#entries) if (e && !e.exited) this.#mail(e, { type: 'fn', id, name });
    }
    return id;
  }

  /** Hands a task to the workers: a ring record, or a message to one worker. False if there is no room. */
  #place(
    priority: number,
    stored: unknown,
    fnId: number,
    target: Target,
    aux: Aux,
    extras: TaskExtras | undefined,
    enqueued: number,
  ): boolean {
    const slots = this.#slots;
    if (!slots.hasFree) return false;
    // `stored` is a primitive, an object's encoding (made at submit), or a raw object with a transfer list.
    const raw = extras?.transfer !== undefined;
    const enc = raw ? undefined : isEncoded(stored) ? stored : encode(stored, this.#enc);
    const ring = this.#rings[priority];
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
    this.#times[this.#L.enq + s] = enqueued;
    Atomics.store(this.#ctl, this.#L.slotState + s, SlotState.Queued);
    this.#fill(s, priority, fnId, target, aux, extras, stored);
    if ((this.#ctl[PRIO_MASK] & (1 << priority)) === 0) Atomics.or(this.#ctl, PRIO_MASK, 1 << priority);
    if (++this.#unpublished >= EARLY_PUBLISH) this.#publish();
    return true;
  }

  #fill(s: number, priority: number, fnId: number, target: Target, aux: Aux, extras: TaskExtras | undefined, input: unknown): void {
    const slots = this.#slots;
    slots.target[s] = target;
    slots.aux[s] = aux;
    slots.input[s] = input;
    slots.fnId[s] = fnId;
    slots.priority[s] = priority;
    if (extras) {
      slots.extras[s] = extras;
      if (extras.ticket) extras.ticket.slot = s;
      if ((extras.timeout ?? 0) > 0) {
        slots.timeout[s] = extras.timeout as number;
        slots.timed++;
      }
    }
    this.#ensureResultLoop();
  }

  /** Posts a task to the least busy live worker (transfer lists, oversized or shared-object inputs). */
  #placeDirect(
    priority: number,
    stored: unknown,
    fnId: number,
    target: Target,
    aux: Aux,
    extras: TaskExtras | undefined,
    enqueued: number,
  ): boolean {
    let best: WorkerEntry | undefined;
    let bestLoad = Infinity;
    for (const e of this.#entries) {
      if (!e || e.exited || e.leaving) continue;
      const load = Atomics.load(this.#ctl, WORKERS_AT + e.index * W_STRIDE + W_INFLIGHT) + (e.ready ? 0 : 0.5);
      if (load < bestLoad) {
        best = e;
        bestLoad = load;
      }
    }
    if (!best) {
      if (this.#workerCount < this.#o.maxWorkers) this.#spawn();
      return false;
    }
    const s = this.#slots.alloc();
    const input = isEncoded(stored) && !extras?.transfer ? decodeEncoded(stored) : stored;
    this.#times[this.#L.enq + s] = enqueued;
    Atomics.store(this.#ctl, this.#L.slotOwner + s, best.index);
    Atomics.store(this.#ctl, this.#L.slotState + s, SlotState.Claimed);
    this.#fill(s, priority, fnId, target, aux, extras, undefined);
    this.#slots.direct[s] = 1;
    try {
      this.#mail(best, { type: 'task', slot: s, fnId, input }, extras?.transfer);
    } catch (err) {
      this.#finishSlot(s, false, err);
    }
    return true;
  }

  #mail(e: WorkerEntry, msg: MainMessage, transfer?: readonly import('node:worker_threads').TransferListItem[]): void {
    e.worker.postMessage(msg, transfer as never);
    Atomics.store(this.#ctl, WORKERS_AT + e.index * W_STRIDE + W_MAIL, 1);
    wake(this.#ctl, TASK_SEQ);
  }

  /** Tasks written to the rings and not yet claimed by a worker. */
  #ringBacklog(): number {
    return (this.#ringWritten - Atomics.load(this.#ctl, CLAIMED)) | 0;
  }

  /** Whether a new task would overflow `maxQueue`: tasks waiting beyond what idle workers can take now. */
  #queueFull(): boolean {
    if (this.#o.maxQueue === Infinity) return false;
    let running = 0;
    for (const e of this.#entries) if (e) running += Atomics.load(this.#ctl, WORKERS_AT + e.index * W_STRIDE + W_INFLIGHT);
    const free = Math.max(0, this.#o.maxWorkers * this.#o.concurrency - running);
    return this.#queue.length + this.#ringBacklog() >= this.#o.maxQueue + free;
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.#publish();
      this.#maybeGrow();
      if (this.#o.spinMicros > 0) this.#spinForResults();
    });
  }

  /** Makes written records visible and wakes sleeping workers (one notify at most). */
  #publish(): void {
    this.#unpublished = 0;
    let any = false;
    for (let p = 1; p <= MAX_PRIORITY; p++) if (this.#rings[p].publish()) any = true;
    if (any) wake(this.#ctl, TASK_SEQ);
  }

  /** Moves queued tasks into free slots and ring space, highest priority first. */
  #dispatch(): void {
    const q = this.#queue;
    for (let d = q.peek(); d; d = q.peek()) {
      const i = d.head & d.mask;
      if (!this.#place(d.priority, d.input[i], d.fn[i], d.target[i] as Target, d.aux[i], d.extras[i], d.enq[i])) break;
      q.take(d);
    }
    if (q.length === 0) this.#notifyIdle();
  }

  // ---------------------------------------------------------------- results

  #ensureResultLoop(): void {
    if (!this.#looping) {
      this.#looping = true;
      holdLoop();
      void this.#resultLoop();
    }
  }

  async #resultLoop(): Promise<void> {
    const ctl = this.#ctl;
    let lastYield = now();
    try {
      while (this.#slots.inUse > 0) {
        const seen = Atomics.load(ctl, MAIN_SEQ);
        if (this.#drain() > 0) {
          // Let the settled promises' reactions run (they often submit more), and now and then
          // the rest of the event loop, before the next drain.
          if (now() - lastYield > 10) {
            await new Promise((r) => setImmediate(r));
            lastYield = now();
          } else {
            await null;
          }
          continue;
        }
        Atomics.add(ctl, MAIN_SEQ + 1, 1);
        try {
          if (Atomics.load(ctl, MAIN_SEQ) === seen) {
            const w = Atomics.waitAsync(ctl, MAIN_SEQ, seen, 1000);
            if (w.async) await w.value;
          }
        } finally {
          Atomics.sub(ctl, MAIN_SEQ + 1, 1);
        }
        lastYield = now();
      }
    } finally {
      this.#looping = false;
      releaseLoop();
    }
  }

  #spinForResults(): void {
    const until = now() + this.#o.spinMicros / 1000;
    const seen = Atomics.load(this.#ctl, MAIN_SEQ);
    while (now() < until) {
      if (Atomics.load(this.#ctl, MAIN_SEQ) !== seen) {
        this.#drain();
        return;
      }
    }
  }

  /** Reads every worker's published results and settles them; then refills the rings. */
  #drain(): number {
    let n = 0;
    for (const mem of this.#indexMem) if (mem.results.hasResults()) n += mem.results.drain(this.#onResult);
    if (n > 0) {
      this.#dispatch();
      this.#publish();
    }
    return n;
  }

  readonly #onResult = (slot: number, status: number, value: unknown, decodeError: unknown): void => {
    if (decodeError !== undefined) this.#finishSlot(slot, false, decodeError);
    else this.#finishResult(slot, status, value);
  };

  #finishResult(slot: number, status: number, value: unknown): void {
    if (status === ResultStatus.Skipped) this.#finishSlot(slot, false, undefined);
    else if (status === ResultStatus.Ok) this.#finishSlot(slot, true, value);
    else this.#finishSlot(slot, false, isErrorRecord(value) ? recordToError(value) : value);
  }

  /** Settles a slot's task (if nobody settled it yet) and frees the slot. */
  #finishSlot(s: number, ok: boolean, value: unknown): void {
    const slots = this.#slots;
    const target = slots.target[s];
    const aux = slots.aux[s];
    const extras = slots.extras[s];
    if (extras?.onAbort) extras.signal?.removeEventListener('abort', extras.onAbort);
    Atomics.store(this.#ctl, this.#L.slotState + s, SlotState.Free);
    slots.release(s);
    if (target === undefined) return;
    if (ok) this.#completed++;
    else this.#failed++;
    this.#settle(target, aux, ok, value);
    if (slots.inUse === 0 && this.#queue.length === 0) this.#notifyIdle();
  }

  /** Settles now and detaches the slot from its outcome; the worker's late result is then ignored. */
  #settleEarly(s: number, err: Error): void {
    const slots = this.#slots;
    const target = slots.target[s];
    if (target === undefined) return;
    const aux = slots.aux[s];
    slots.target[s] = undefined;
    this.#failed++;
    this.#settle(target, aux, false, err);
  }

  #settle(target: Target, aux: Aux, ok: boolean, value: unknown): void {
    if (typeof target === 'function') {
      if (ok) target(value);
      else (aux as (e: unknown) => void)(value);
    } else {
      target.settle(aux as number, ok, value);
    }
  }

  #onMessage(e: WorkerEntry, msg: WorkerMessage): void {
    if (msg.type === 'ready') {
      e.ready = true;
      this.#starting--;
    } else if (msg.type === 'result') {
      this.#finishResult(msg.slot, msg.status, reviveDeep(msg.value));
      this.#dispatch();
      this.#publish();
    } else if (msg.type === 'init-error') {
      const err = isErrorRecord(msg.error) ? recordToError(msg.error) : new WorkerModuleError(String(msg.error));
      this.#breakPool(err);
    }
  }

  /** The task module cannot load: every task fails with that error rather than respawning forever. */
  #breakPool(err: Error): void {
    if (this.#broken) return;
    this.#broken = err;
    this.#queue.clear((t, a) => this.#settle(t, a, false, err));
    for (let s = 0; s < this.#slots.size; s++) {
      if (this.#slots.target[s] !== undefined) this.#settleEarly(s, err);
    }
    for (const en of this.#entries) if (en) this.#retire(en, true);
    this.#notifyIdle();
  }

  // ---------------------------------------------------------------- workers

  #spawn(): WorkerEntry | undefined {
    if (this.#broken) return undefined;
    let index = this.#entries.findIndex((e) => e === undefined);
    if (index < 0) index = this.#entries.length;
    if (index >= MAX_WORKER_INDEX) return undefined;
    let mem = this.#indexMem[index];
    if (!mem) {
      mem = {
        results: new ResultRingReader(createRing(RESULT_RING)),
        waitHist: new SharedHistogram(),
        runHist: new SharedHistogram(),
      };
      this.#indexMem[index] = mem;
    }
    const base = WORKERS_AT + index * W_STRIDE;
    for (const k of [W_MAIL, W_RETIRE, W_INFLIGHT]) Atomics.store(this.#ctl, base + k, 0);
    Atomics.store(this.#ctl, base + W_STATE, WorkerState.Starting);
    const e = new WorkerEntry(this.#nextWorkerId++, index, mem, this.#o);
    this.#entries[index] = e;
    this.#workerCount++;
    this.#starting++;
    this.#peakWorkers = Math.max(this.#peakWorkers, this.#workerCount);
    this.#times[this.#L.active + index] = now();
    const init: WorkerInit = {
      filename: this.#o.filename,
      index,
      workerId: e.id,
      concurrency: this.#o.concurrency,
      slots: this.#o.slots,
      ctl: this.#ctlSab,
      times: this.#timesSab,
      rings: this.#rings.map((r) => r?.sab),
      results: mem.results.sab,
      waitHist: mem.waitHist.sab,
      runHist: mem.runHist.sab,
      fnNames: this.#fnNames.slice(),
    };
    e.worker.postMessage(init);
    e.worker.on('message', (m: WorkerMessage) => this.#onMessage(e, m));
    e.worker.on('error', (err) => {
      e.lastError = err;
    });
    e.worker.on('exit', (code) => this.#onExit(e, code));
    return e;
  }

  #onExit(e: WorkerEntry, code: number): void {
    e.exited = true;
    if (!e.ready) this.#starting--;
    this.#workerCount--;
    this.#entries[e.index] = undefined;
    const base = WORKERS_AT + e.index * W_STRIDE;
    Atomics.store(this.#ctl, base + W_STATE, WorkerState.Exited);
    // Results it published before it died are real results.
    const mem = e.mem;
    if (mem.results.hasResults()) mem.results.drain(this.#onResult);
    const crash = new WorkerCrashedError(
      `worker ${e.id} exited with code ${code} while running the task${e.lastError ? `: ${e.lastError.message}` : ''}`,
      e.id,
      code,
      e.lastError ? { cause: e.lastError } : undefined,
    );
    const L = this.#L;
    for (let s = 0; s < this.#slots.size; s++) {
      const st = Atomics.load(this.#ctl, L.slotState + s);
      if ((st !== SlotState.Claimed && st !== SlotState.Running) || Atomics.load(this.#ctl, L.slotOwner + s) !== e.index) continue;
      const input = this.#slots.input[s];
      if (st === SlotState.Claimed && !this.#slots.direct[s] && this.#slots.target[s] !== undefined) {
        this.#requeue(s, input);
      } else {
        this.#finishSlot(s, false, this.#slots.target[s] === undefined ? undefined : crash);
      }
    }
    Atomics.store(this.#ctl, base + W_INFLIGHT, 0);
    if (!e.leaving) e.lastError ??= crash;
    // Replace it if the pool still needs workers: to run what is pending, or to keep minWorkers.
    const pending = this.#queue.length > 0 || this.#slots.inUse > 0;
    const wanted = pending || (!this.#closing && this.#workerCount < this.#o.minWorkers);
    if (!this.#broken && wanted && this.#workerCount < this.#o.maxWorkers) this.#spawn();
    this.#dispatch();
    this.#publish();
    this.#notifyIdle();
  }

  /** Puts a claimed-but-not-started task of a dead worker back in its ring. */
  #requeue(s: number, input: unknown): void {
    const slots = this.#slots;
    const target = slots.target[s] as Target;
    const aux = slots.aux[s];
    const extras = slots.extras[s];
    const prio = slots.priority[s];
    const fnId = slots.fnId[s];
    const enq = this.#times[this.#L.enq + s];
    Atomics.store(this.#ctl, this.#L.slotState + s, SlotState.Free);
    slots.release(s);
    if (!this.#place(prio, input, fnId, target, aux, extras, enq)) {
      const seq = this.#queue.push(prio, input, fnId, target, aux, extras, enq);
      if (extras?.ticket) extras.ticket.seq = seq;
    }
  }

  #retire(e: WorkerEntry, terminate: boolean): void {
    e.leaving = true;
    Atomics.store(this.#ctl, WORKERS_AT + e.index * W_STRIDE + W_RETIRE, 1);
    wake(this.#ctl, TASK_SEQ);
    if (terminate) void e.worker.terminate();
  }

  #maybeGrow(): void {
    if (this.#workerCount >= this.#o.maxWorkers || this.#closing) return;
    const backlog = this.#queue.length + this.#ringBacklog();
    if (backlog === 0) return;
    let idle = this.#starting;
    for (const e of this.#entries) {
      if (e && Atomics.load(this.#ctl, WORKERS_AT + e.index * W_STRIDE + W_STATE) === WorkerState.Idle) idle++;
    }
    let want = Math.min(this.#o.maxWorkers - this.#workerCount, backlog - idle);
    while (want-- > 0) this.#spawn();
  }

  /** Timeouts, kill graces and idle shrinking. Runs on an unref'd interval. */
  #sweep(): void {
    const t = now();
    const L = this.#L;
    const slots = this.#slots;
    if (slots.timed > 0) {
      for (let s = 0; s < slots.size; s++) {
        const limit = slots.timeout[s];
        if (limit <= 0 || slots.target[s] === undefined) continue;
        if (Atomics.load(this.#ctl, L.slotState + s) !== SlotState.Running) continue;
        if (t - this.#times[L.start + s] < limit) continue;
        this.#settleEarly(s, new TimeoutError(`task timed out after ${limit} ms`));
        this.#abortRunning(s);
      }
    }
    for (const e of this.#entries) {
      if (!e || e.exited) continue;
      if (e.killAt > 0 && t >= e.killAt) {
        e.killAt = 0;
        if (this.#holdsDetached(e)) {
          e.lastError = new TimeoutError(`worker ${e.id} did not give up a timed-out or aborted task; terminated`);
          void e.worker.terminate();
        }
      }
      const base = WORKERS_AT + e.index * W_STRIDE;
      if (
        !this.#closing &&
        this.#workerCount > this.#o.minWorkers &&
        e.ready &&
        !e.leaving &&
        Atomics.load(this.#ctl, base + W_STATE) === WorkerState.Idle &&
        Atomics.load(this.#ctl, base + W_INFLIGHT) === 0 &&
        t - this.#times[L.active + e.index] > this.#o.idleTimeout
      ) {
        this.#retire(e, false);
      }
    }
  }

  /** Whether worker `e` still runs a task whose caller was already answered (timeout/abort). */
  #holdsDetached(e: WorkerEntry): boolean {
    const L = this.#L;
    for (let s = 0; s < this.#slots.size; s++) {
      if (
        Atomics.load(this.#ctl, L.slotOwner + s) === e.index &&
        Atomics.load(this.#ctl, L.slotState + s) === SlotState.Running &&
        this.#slots.target[s] === undefined
      ) {
        return true;
      }
    }
    return false;
  }

  /** Aborts `ctx.signal` of a running task and arms the kill grace of its worker. */
  #abortRunning(s: number): void {
    const owner = Atomics.load(this.#ctl, this.#L.slotOwner + s);
    const e = this.#entries[owner];
    if (!e || e.exited) return;
    this.#mail(e, { type: 'abort', slot: s });
    if (e.killAt === 0) e.killAt = now() + this.#o.killGrace;
  }

  // ---------------------------------------------------------------- abort

  /**
   * Arms the abort listener of a task that has a signal. Its ticket says where the task is: in the
   * queue (seq) or in a slot (slot, set when it is placed); the slot's state word decides the race
   * with a worker that is starting it.
   */
  #watch(extras: TaskExtras, prio: number, target: Target, aux: Aux): void {
    const signal = extras.signal as AbortSignal;
    const ticket = { seq: -1, slot: -1 };
    extras.ticket = ticket;
    extras.onAbort = () => {
      const err = new AbortError('the task was aborted', { cause: signal.reason });
      const s = ticket.slot;
      if (s < 0 || this.#slots.extras[s] !== extras) {
        if (this.#queue.cancel(prio, ticket.seq)) {
          this.#failed++;
          this.#settle(target, aux, false, err);
        }
        return;
      }
      const at = this.#L.slotState + s;
      const notStarted =
        Atomics.compareExchange(this.#ctl, at, SlotState.Queued, SlotState.Cancelled) === SlotState.Queued ||
        Atomics.compareExchange(this.#ctl, at, SlotState.Claimed, SlotState.Cancelled) === SlotState.Claimed;
      this.#settleEarly(s, err);
      if (!notStarted) this.#abortRunning(s);
    };
    signal.addEventListener('abort', extras.onAbort, { once: true });
  }

  // ---------------------------------------------------------------- batches

  /** Runs every input; resolves to the outputs in input order, or rejects with the first error. */
  submitBatch<R = unknown>(inputs: Iterable<unknown>, opts?: SubmitOptions): Promise<R[]> {
    const items = Array.isArray(inputs) ? inputs : [...inputs];
    return new Promise<R[]>((resolve, reject) => {
      const c = new BatchCollector(items.length, resolve as (v: unknown[]) => void, reject);
      for (let i = 0; i < items.length; i++) this.#submitOne(items[i], opts, c, i);
    });
  }

  /**
   * Runs every input of a (possibly endless) iterable with a bounded number in flight, yielding
   * outputs in input order (`ordered: true`, the default) or as they finish.
   */
  map<R = unknown>(
    inputs: Iterable<unknown> | AsyncIterable<unknown>,
    opts?: SubmitOptions & { ordered?: boolean; window?: number },
  ): AsyncIterable<R> {
    const window = opts?.window ?? Math.max(64, this.#o.maxWorkers * this.#o.concurrency * 32);
    return mapThroughPool<R>(inputs, opts?.ordered ?? true, window, (input, c, i) => this.#submitOne(input, opts, c, i));
  }

  // ---------------------------------------------------------------- control and introspection

  /** Starts `n` more workers (up to the index cap); raises maxWorkers if needed. */
  scaleUp(n = 1): void {
    for (let i = 0; i < n; i++) {
      if (this.#workerCount >= this.#o.maxWorkers) this.#o.maxWorkers = Math.min(MAX_WORKER_INDEX, this.#o.maxWorkers + 1);
      if (!this.#spawn()) break;
    }
  }

  /** Asks `n` workers to leave once idle (never below one worker while tasks remain). */
  scaleDown(n = 1): void {
    let left = n;
    for (const e of [...this.#entries].reverse()) {
      if (left === 0) break;
      if (!e || e.exited || e.leaving) continue;
      this.#retire(e, false);
      left--;
    }
    this.#o.minWorkers = Math.min(this.#o.minWorkers, Math.max(0, this.#workerCount - n));
  }

  getWorkerCount(): number {
    return this.#workerCount;
  }

  /** Tasks waiting to start (queued on the main thread or in the rings). */
  getQueueLength(): number {
    let inRings = 0;
    const L = this.#L;
    if (this.#ringBacklog() > 0) {
      for (let s = 0; s < this.#slots.size; s++) if (Atomics.load(this.#ctl, L.slotState + s) === SlotState.Queued) inRings++;
    }
    return this.#queue.length + inRings;
  }

  isIdle(): boolean {
    return this.#queue.length === 0 && this.#slots.inUse === 0;
  }

  /** Resolves when no task waits to start (the queue has room again). */
  drain(): Promise<void> {
    if (this.#queue.length === 0 && this.#ringBacklog() === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.#queue.length === 0 && this.#ringBacklog() === 0) resolve();
        else this.#idleWaiters.push(check);
      };
      this.#idleWaiters.push(check);
      this.#ensureResultLoop();
    });
  }

  #notifyIdle(): void {
    if (this.#idleWaiters.length === 0) return;
    const w = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const f of w) f();
  }

  getHealthStatus(): HealthStatus[] {
    const t = now();
    const out: HealthStatus[] = [];
    for (const e of this.#entries) {
      if (!e) continue;
      const base = WORKERS_AT + e.index * W_STRIDE;
      const inflight = Atomics.load(this.#ctl, base + W_INFLIGHT);
      let elu = 0;
      try {
        elu = e.worker.performance.eventLoopUtilization().utilization;
      } catch {
        elu = 0;
      }
      out.push({
        workerId: e.id,
        alive: !e.exited,
        ready: e.ready,
        busy: inflight > 0,
        tasksDone: Atomics.load(this.#ctl, base + W_DONE),
        tasksFailed: Atomics.load(this.#ctl, base + W_FAILED),
        lastError: e.lastError,
        eventLoopUtilization: elu,
        idleMs: inflight > 0 ? 0 : t - this.#times[this.#L.active + e.index],
        healthy: !e.exited && !this.#stuck(e, t),
      });
    }
    return out;
  }

  #stuck(e: WorkerEntry, t: number): boolean {
    const L = this.#L;
    for (let s = 0; s < this.#slots.size; s++) {
      if (
        Atomics.load(this.#ctl, L.slotState + s) === SlotState.Running &&
        Atomics.load(this.#ctl, L.slotOwner + s) === e.index &&
        t - this.#times[L.start + s] > this.#o.unhealthyAfter
      ) {
        return true;
      }
    }
    return false;
  }

  /** Terminates and replaces workers stuck past `unhealthyAfter`; returns how many. */
  async restartUnhealthyWorkers(): Promise<number> {
    const t = now();
    const stuck = this.#entries.filter((e): e is WorkerEntry => !!e && !e.exited && this.#stuck(e, t));
    for (const e of stuck) e.lastError = new TimeoutError(`worker ${e.id} was stuck and was restarted`);
    await Promise.all(stuck.map((e) => e.worker.terminate()));
    return stuck.length;
  }

  metrics(): PoolMetrics {
    let busy = 0;
    for (const e of this.#entries) {
      if (e && Atomics.load(this.#ctl, WORKERS_AT + e.index * W_STRIDE + W_INFLIGHT) > 0) busy++;
    }
    const run = summarize(this.#indexMem.map((m) => m.runHist));
    const elapsed = now() - this.#startedAt;
    return {
      workers: this.#workerCount,
      peakWorkers: this.#peakWorkers,
      busy,
      queued: this.getQueueLength(),
      inFlight: this.#slots.inUse,
      completed: this.#completed,
      failed: this.#failed,
      waitTime: summarize(this.#indexMem.map((m) => m.waitHist)),
      runTime: run,
      utilization: this.#peakWorkers > 0 && elapsed > 0 ? Math.min(1, (run.mean * run.count) / (elapsed * Math.max(1, this.#workerCount))) : 0,
    };
  }

  /**
   * Stops the pool. By default runs everything already submitted first; with `force: true` rejects
   * queued tasks with PoolClosedError and terminates running ones. Always settles; afterwards the
   * pool holds no handle, so the process can exit.
   */
  close(opts?: { force?: boolean }): Promise<void> {
    if (this.#closed) return this.#closed;
    this.#closing = true;
    this.#closed = (async () => {
      if (opts?.force) {
        const err = new PoolClosedError('the pool was closed with force');
        this.#queue.clear((t, a) => this.#settle(t, a, false, err));
        for (let s = 0; s < this.#slots.size; s++) if (this.#slots.target[s] !== undefined) this.#settleEarly(s, err);
      } else {
        while (!this.isIdle() && !this.#broken) {
          await new Promise<void>((r) => {
            this.#idleWaiters.push(r);
            this.#ensureResultLoop();
          });
        }
      }
      Atomics.store(this.#ctl, STOP, 2);
      wake(this.#ctl, TASK_SEQ);
      if (this.#sweeper) clearInterval(this.#sweeper);
      this.#sweeper = undefined;
      const live = this.#entries.filter((e): e is WorkerEntry => !!e);
      for (const e of live) e.leaving = true;
      await Promise.all(live.map((e) => e.worker.terminate()));
    })();
    return this.#closed;
  }

  /** `await using pool = new WorkerPool(...)` closes it at scope end. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function isEncoded(x: unknown): x is Encoded {
  return typeof x === 'object' && x !== null && encodedSet.has(x);
}

// Encodings made at submit, told apart from user objects that travel raw (with a transfer list).
const encodedSet = new WeakSet<object>();
function markEncoded(e: Encoded): Encoded {
  encodedSet.add(e);
  return e;
}

function decodeEncoded(e: Encoded): unknown {
  if (e.tag === Tag.Int32 || e.tag === Tag.Float64) return e.num;
  return decode(e.tag, e.bytes ? e.bytes.slice() : new Uint8Array(0), e.sabs);
}
