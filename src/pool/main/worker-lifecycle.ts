/**
 * Starting, replacing and retiring workers.
 *
 * A worker that exits unasked (a crash, `process.exit`, an uncaught error, running out of memory)
 * fails only the tasks it was running, with a WorkerCrashedError naming it and its exit code; tasks
 * it had claimed but not started go back to the rings, and it is replaced while the pool needs it.
 *
 * It owns the workers (entries by index, their per-index memory, counts, the closing / stopped /
 * broken states); dispatch and settlement see it through {@link WorkerView}.
 * Internal to the pool (not exported from the package root).
 */
import { MAX_TIMER_MS, fastNow as now } from '../../memory/clock.js';
import { SharedHistogram } from '../../memory/histogram.js';
import { notifyAll, WORD_SLOTS } from '../../memory/wait/index.js';
import { TimeoutError } from '../../memory/errors.js';
import { WorkerBootError, WorkerModuleError, WorkerSetupError } from '../errors.js';
import {
  createRing,
  isErrorRecord,
  MAX_WORKER_INDEX,
  recordToError,
  ResultRingReader,
  SPINNER,
  STOP,
  taskWord,
  TS_FILE,
  tsxStartedFrom,
  W_DONE,
  W_FAILED,
  W_INFLIGHT,
  W_MAIL,
  W_RETIRE,
  W_STATE,
  W_WAKE,
  wakeWord,
  type WorkerInit,
  type WorkerMessage,
  WorkerState,
} from '../shared/index.js';
import { releaseAbandoned } from './abandon.js';
import { ClaimRecovery } from './claim-recovery.js';
import type { ResolvedOptions } from './options.js';
import type { PoolMemory } from './pool-memory.js';
import type { Placer, Settler, WorkerView } from './ports.js';
import { type IndexMemory, WorkerEntry } from './worker-entry.js';

const RESULT_RING = 1 << 20;
/** Workers that die before they are ready, in a row, after which the pool stops starting them. */
export const MAX_BOOT_FAILURES = 3;
/** How long a graceful close waits for each worker to leave by itself (its teardown) before terminating it. */
const TEARDOWN_GRACE = 2000;

/**
 * Resolves once `e`'s thread exited by itself, or after `ms` once it was terminated. `unref`: the
 * timer keeps no process alive (a worker leaving while the pool runs on, not a close awaiting it).
 */
function exitWithin(e: WorkerEntry, ms: number, unref = false): Promise<unknown> {
  if (e.exited) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      e.worker.off('exit', onExit);
      resolve(e.terminate());
    }, ms);
    if (unref) timer.unref();
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(undefined);
    };
    e.worker.once('exit', onExit);
  });
}
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

export class WorkerLifecycle implements WorkerView {
  readonly #entries: (WorkerEntry | undefined)[] = [];
  readonly #indexMem: IndexMemory[] = [];
  #workerCount = 0;
  #peakWorkers = 0;
  #closing = false;
  /** STOP = 2 was set: workers are being terminated and never replaced. */
  #stopped = false;
  #broken: Error | undefined;
  /** Workers that exited before 'ready' since the last one that got there. */
  #bootFailures = 0;
  /** minWorkers as scaleDown left it (scaleUp gives it back, up to the configured one); `o` keeps what the user set. */
  #min: number;
  /** The cap of {@link setLimit} (protective mode); Infinity when none. */
  #limit = Infinity;
  #settler!: Settler;
  #placer!: Placer;
  #recovery!: ClaimRecovery;
  #timed: (ms: number) => void = () => {};

  constructor(
    private readonly mem: PoolMemory,
    private readonly o: ResolvedOptions,
  ) {
    this.#min = o.minWorkers;
  }

  /** Joins settlement and dispatch, built after the lifecycle (pool-core.ts). */
  connect(settler: Settler, placer: Placer, timed: (ms: number) => void): void {
    this.#settler = settler;
    this.#placer = placer;
    this.#timed = timed;
    this.#recovery = new ClaimRecovery(this.mem, settler, placer, this.#entries);
  }

  get entries(): readonly (WorkerEntry | undefined)[] {
    return this.#entries;
  }

  get indexMem(): readonly IndexMemory[] {
    return this.#indexMem;
  }

  get workerCount(): number {
    return this.#workerCount;
  }

  get peakWorkers(): number {
    return this.#peakWorkers;
  }

  /** Fewest workers kept now: minWorkers (as scaleDown left it), never above the limit. */
  get minWorkers(): number {
    return Math.min(this.#min, this.#limit);
  }

  /** Most workers at once now (leaving ones count until they exit): maxWorkers, never above the limit. */
  get maxWorkers(): number {
    return Math.min(this.o.maxWorkers, this.#limit);
  }

  /**
   * The size the pool keeps or is heading to: its workers not asked to leave, raised to minWorkers
   * (the ones missing start as soon as leaving workers have exited), never above maxWorkers.
   */
  get size(): number {
    return Math.min(this.maxWorkers, Math.max(this.#staying(), this.minWorkers));
  }

  /** Live workers not asked to leave; one being recycled counts (its successor takes its place). */
  #staying(): number {
    let n = 0;
    for (const e of this.#entries) if (e && !e.exited && (!e.leaving || e.recycled)) n++;
    return n;
  }

  get broken(): Error | undefined {
    return this.#broken;
  }

  get closing(): boolean {
    return this.#closing;
  }

  /** Its workers were told to stop (a close past waiting for work): none will claim from the rings again. */
  get stopped(): boolean {
    return this.#stopped;
  }

  entryAt(index: number): WorkerEntry | undefined {
    return this.#entries[index];
  }

  /** No new tasks from now on; workers that leave are no longer replaced for minWorkers. */
  beginClose(): void {
    this.#closing = true;
  }

  spawn(): WorkerEntry | undefined {
    if (this.#broken) return undefined;
    const { mem, o } = this;
    let index = this.#entries.indexOf(undefined);
    if (index < 0) index = this.#entries.length;
    if (index >= MAX_WORKER_INDEX) return undefined;
    let im = this.#indexMem[index];
    if (!im) {
      const results = new ResultRingReader(createRing(RESULT_RING));
      results.resolveSab = (id) => this.#placer.resolveSab(id);
      im = {
        results,
        waitHist: new SharedHistogram(),
        runHist: new SharedHistogram(),
      };
      this.#indexMem[index] = im;
    } else {
      // A replacement at a reused index: the writer of the ring starts at 0, so must its reader.
      if (im.results.hasResults()) im.results.drain(this.#settler.onResult);
      im.results.reset();
    }
    for (const k of [W_MAIL, W_RETIRE, W_INFLIGHT, W_DONE, W_FAILED]) mem.setWorkerWord(index, k, 0);
    // The wait word of a reused index: its last sleeper's thread is gone (a terminated one may have
    // died registered), so nobody counts as registered or lingering on it.
    for (let k = 0; k < WORD_SLOTS; k++) mem.setWorkerWord(index, W_WAKE + k, 0);
    let e: WorkerEntry;
    try {
      e = new WorkerEntry(nextWorkerId++, index, im, wakeWord(mem.ctl, index), o);
    } catch (err) {
      // new Worker refuses the pool's options (execArgv it does not allow, workerData it cannot
      // clone, bad resourceLimits): as a module that cannot load, every worker would. A dynamic pool
      // starts one from a microtask, where the throw would end the process.
      this.#break(
        new WorkerBootError(
          `cannot start a worker for ${o.filename}: new Worker refused the pool's options (workerData, execArgv, env, resourceLimits): ${(err as Error)?.message ?? String(err)}`,
          null,
          { cause: err },
        ),
      );
      return undefined;
    }
    mem.setWorkerWord(index, W_STATE, WorkerState.Starting);
    this.#entries[index] = e;
    this.#workerCount++;
    this.#peakWorkers = Math.max(this.#peakWorkers, this.#workerCount);
    mem.times[mem.L.active + index] = now();
    mem.times[mem.L.busy + index] = 0;
    const init: WorkerInit = {
      filename: o.filename,
      index,
      workerId: e.id,
      concurrency: o.concurrency,
      slots: o.slots,
      ctl: mem.ctlSab,
      times: mem.timesSab,
      rings: this.#placer.ringSabs(),
      results: im.results.sab,
      waitHist: im.waitHist.sab,
      runHist: im.runHist.sab,
      fnNames: this.#placer.fnNamesNow(),
      preload: [...preload],
      // A pool's own execArgv or env can hide the tsx this process runs under from its workers.
      ...(TS_FILE.test(o.filename) && { tsx: tsxStartedFrom() }),
      ...this.#placer.sabsForInit(),
      maxTasks: o.maxTasksPerWorker,
      maxMemoryMiB: o.maxMemoryPerWorker,
      workerData: o.workerData,
    };
    e.worker.postMessage(init);
    e.worker.on('message', (m: WorkerMessage) => this.#onMessage(e, m));
    e.worker.on('error', (err) => {
      e.lastError = err;
    });
    e.worker.on('exit', (code) => this.#onExit(e, code));
    // A module that never finishes loading (a top-level await that never settles) would leave its
    // tasks pending forever: past the deadline the pool is broken, as when the module throws.
    if (o.bootTimeout <= MAX_TIMER_MS) {
      e.bootTimer = setTimeout(() => this.#bootTimedOut(e), o.bootTimeout);
      e.bootTimer.unref();
    }
    // Unref after the listeners: adding a 'message' listener refs the worker's port again. Idle
    // workers keep no process alive; pending tasks do (the result loop holds a handle meanwhile).
    e.worker.unref();
    return e;
  }

  #onMessage(e: WorkerEntry, msg: WorkerMessage): void {
    if (msg.type === 'ready') {
      e.ready = true;
      clearTimeout(e.bootTimer);
      this.#bootFailures = 0;
      // Tasks that wait for a live worker (direct ones, when the pool had none) can go now.
      this.#placer.refill();
    } else if (msg.type === 'result') {
      this.#settler.messageResult(msg.slot, msg.status, msg.value, msg.encoded === true);
    } else if (msg.type === 'recycle') {
      // maxTasksPerWorker / maxMemoryPerWorker: it leaves once idle, and is replaced as a crash is.
      // It claims nothing more, but waits for this RETIRE: tasks posted to it before this point
      // raised its MAIL flag first, so it still sees and runs them before it leaves.
      e.recycled = true;
      if (!e.leaving) this.retire(e, false);
    } else if (msg.type === 'leaving') {
      // Retired (recycling, idle shrink, scaleDown): its teardown gets the grace a close gives it.
      // A recycled worker is replaced only when it exits, so one whose teardown hangs would
      // otherwise hold its place (and at maxWorkers, the pool's queue) forever.
      void exitWithin(e, TEARDOWN_GRACE, true);
    } else if (msg.type === 'setup') {
      e.inSetup = true;
    } else if (msg.type === 'init-error') {
      // The task module cannot load (or its setup failed): every task fails with that error rather than respawning forever.
      const err = isErrorRecord(msg.error) ? recordToError(msg.error) : new WorkerModuleError(String(msg.error));
      this.#break(err);
    }
  }

  /** The workers cannot start: every pending and later task fails with `err`; none is started again. */
  #break(err: Error): void {
    if (this.#broken || this.#stopped) return;
    this.#broken = err;
    this.#settler.rejectAll(err);
    for (const en of this.#entries) if (en) this.retire(en, true);
    // The rest is freed as the last of them exits (#onExit); with none alive, now.
    if (this.#workerCount === 0) releaseAbandoned(this.mem, this.#settler, err);
  }

  #bootTimedOut(e: WorkerEntry): void {
    if (e.ready || e.exited) return;
    const ms = this.o.bootTimeout;
    if (e.inSetup) {
      // The module loaded; its setup() is what has not settled (it waits on something that stays
      // pending, a timer or a socket keeping the worker alive): say so, as a failing setup is said.
      const cause = new TimeoutError(`setup() did not settle in worker ${e.id} within ${ms} ms`);
      this.#break(
        new WorkerSetupError(
          `setup() of task module ${this.o.filename} did not settle within bootTimeout (${ms} ms) in worker ${e.id}, so the pool starts no workers`,
          { cause },
        ),
      );
      return;
    }
    const cause = new TimeoutError(`worker ${e.id} did not finish loading its task module within ${ms} ms`);
    this.#break(
      new WorkerBootError(
        `the task module ${this.o.filename} did not finish loading within bootTimeout (${ms} ms), so the pool starts no workers (a top-level await that never settles?)`,
        null,
        { cause },
      ),
    );
  }

  #onExit(e: WorkerEntry, code: number): void {
    const { mem } = this;
    const { ctl, slots } = mem;
    e.exited = true;
    this.#workerCount--;
    this.#entries[e.index] = undefined;
    mem.setWorkerWord(e.index, W_STATE, WorkerState.Exited);
    // Killed while it spun: give SPINNER back (only its owner ever clears it), and wake a sleeper for
    // any task published meanwhile that publish() left to the spinner.
    if (Atomics.compareExchange(ctl, SPINNER, e.index + 1, 0) === e.index + 1) notifyAll(taskWord(ctl));
    // Results it published before it died are real results.
    if (e.mem.results.hasResults()) e.mem.results.drain(this.#settler.onResult);
    clearTimeout(e.bootTimer);
    // Died before it was ready, unasked: a module that exits or crashes its thread while loading, or
    // resourceLimits too small for a thread, would otherwise be respawned without end.
    if (!e.ready && !e.leaving && ++this.#bootFailures >= MAX_BOOT_FAILURES) {
      const why = e.lastError ? `: ${e.lastError.message}` : '';
      this.#break(
        new WorkerBootError(
          `workers of ${this.o.filename} died before they were ready ${this.#bootFailures} times in a row (the last exited with code ${code}${why}), so the pool starts no more`,
          code,
          e.lastError ? { cause: e.lastError } : undefined,
        ),
      );
    }
    const crash = this.#recovery.workerExited(e, code);
    if (!e.leaving) e.lastError ??= crash;
    // Given up on, the last worker gone: no one will run or claim what its callers left in use.
    if (this.#broken && this.#workerCount === 0) releaseAbandoned(mem, this.#settler, this.#broken);
    // Replace a crashed worker while the pool needs it (work pending, or below minWorkers). One that
    // left on purpose (idle, scaleDown, the limit, close) is replaced only if no worker is left for
    // pending work, or if minWorkers rose meanwhile (a limit lifted, scaleUp) while it was leaving.
    const pending = mem.queue.length > 0 || slots.inUse > 0;
    const short = !this.#closing && this.#workerCount < this.minWorkers;
    const wanted = e.leaving && !e.recycled ? (pending && this.#workerCount === 0) || short : pending || short;
    if (!this.#broken && !this.#stopped && wanted && this.#workerCount < this.maxWorkers) this.spawn();
    this.#placer.refill();
    // Shrunk for idleness: tasks that came while it was leaving, when it still counted against
    // maxWorkers, may want its place (one asked to leave by scaleDown or the cap is not taken back).
    if (e.idleRetired) this.maybeGrow();
    this.#settler.notifyIdle();
    this.#settler.endResultLoopIfIdle();
  }

  /** Asks an idle worker to leave (the sweep's idle shrink); its place may be taken again at once. */
  retireIdle(e: WorkerEntry): void {
    e.idleRetired = true;
    this.retire(e, false);
  }

  /** Asks a worker to leave once it holds no task (or terminates it now). */
  retire(e: WorkerEntry, terminate: boolean): void {
    e.leaving = true;
    this.mem.setWorkerWord(e.index, W_RETIRE, 1);
    notifyAll(taskWord(this.mem.ctl));
    notifyAll(e.wake); // a worker that claims nothing sleeps there (shared/layout.ts WAKE)
    if (terminate) void e.terminate();
  }

  /**
   * Dynamic growth: start workers while tasks wait and no worker is idle or starting. A graceful
   * close still grows: it runs what was submitted before it, which a dynamic pool with no worker yet
   * (tasks flushed after close() began) could otherwise never start.
   */
  maybeGrow(): void {
    const max = this.maxWorkers;
    if (this.#workerCount >= max || this.#stopped || this.#broken) return;
    // Room the existing workers have now: a worker between tasks counts as free even before it has
    // marked itself idle, so a trickle of awaited tasks does not grow the pool. Read before the
    // backlog: a worker that claims meanwhile moves a task from backlog to in flight, and reading in
    // this order can then only see it in neither (no growth), never in both (growth for nothing).
    // A worker still starting counts once, as an entry with nothing in flight (it used to count
    // twice, so a burst while the first workers booted started too few).
    const c = this.o.concurrency;
    let free = 0;
    for (const e of this.#entries)
      if (e && !e.leaving) free += Math.max(0, c - this.mem.workerWord(e.index, W_INFLIGHT));
    const backlog = this.mem.queue.length + this.#placer.ringBacklog();
    if (backlog <= 0) return;
    let want = Math.min(max - this.#workerCount, Math.ceil((backlog - free) / c));
    while (want-- > 0) this.spawn();
  }

  /**
   * Starts up to `n` more workers now, never past maxWorkers (the limit the user set: it clamps),
   * and gives back to minWorkers up to `n` of what scaleDown took (never past the configured one).
   */
  scaleUp(n: number): void {
    if (this.#closing || this.#stopped || this.#broken) return; // a closed pool starts nothing
    this.#min = Math.min(this.o.minWorkers, this.#min + n);
    const room = Math.min(n, this.maxWorkers - this.#workerCount);
    for (let i = 0; i < room; i++) if (!this.spawn()) break;
    // Those owed to minWorkers that found no room yet start as leaving workers exit (#onExit).
  }

  /** Asks `n` workers to leave once they hold no task (idle ones first); minWorkers drops with them. */
  scaleDown(n: number): void {
    // n fewer than the pool is meant to have. Under a cap (protective mode's, which passes) that is
    // counted from its minWorkers, not from the workers the cap leaves it now, and workers leave only
    // if the cap is then above what it is meant to keep.
    const staying = this.#staying();
    const capped = this.#limit < Infinity;
    this.#min = Math.min(this.#min, Math.max(0, (capped ? Math.max(this.#min, staying) : staying) - n));
    const keep = capped ? Math.min(this.#min, this.#limit) : staying - n;
    if (staying > keep) this.#retire(staying - keep);
  }

  /**
   * Caps the pool at `n` workers (`undefined` lifts the cap), the configured minWorkers and
   * maxWorkers untouched: workers above it leave once they hold no task (idle ones first), and
   * growth, replacements and scaleUp stop at it; lifted, the pool starts what minWorkers and waiting
   * tasks want. Returns the size it moves to ({@link size}). Protective mode (PatternRegistry) uses it.
   */
  setLimit(n: number | undefined): number {
    this.#limit = n === undefined ? Infinity : Math.max(1, Math.floor(n));
    const surplus = this.#staying() - this.#limit;
    if (surplus > 0) this.#retire(surplus);
    if (!this.#closing && !this.#stopped && !this.#broken) {
      const floor = this.minWorkers;
      while (this.#workerCount < floor && this.#workerCount < this.maxWorkers) if (!this.spawn()) break;
      this.maybeGrow();
    }
    return this.size;
  }

  /** Asks `n` workers that are not leaving yet to leave: idle ones first, then the newest. */
  #retire(n: number): void {
    let left = n;
    for (const idleOnly of [true, false]) {
      for (let i = this.#entries.length - 1; i >= 0 && left > 0; i--) {
        const e = this.#entries[i];
        if (!e || e.exited || e.leaving) continue;
        if (idleOnly && this.mem.workerWord(e.index, W_INFLIGHT) !== 0) continue;
        this.retire(e, false);
        left--;
      }
    }
  }

  /**
   * Aborts `ctx.signal` of a running task (its reason a TimeoutError when `timedOut`, the limit in
   * ms, says it ran out of time; an AbortError otherwise) and arms the kill grace of its worker.
   */
  abortRunning(s: number, timedOut?: number): void {
    const e = this.#entries[this.mem.slotOwner(s)];
    if (!e || e.exited) return;
    // Names the task, not only the slot: by the time the worker reads this, the task may have ended
    // and the slot hold another (SLOT_GEN in shared/layout.ts).
    this.#placer.mail(e, { type: 'abort', slot: s, gen: this.mem.slotGen(s), ...(timedOut === undefined ? {} : { timedOut }) });
    // Each detached task gets its own grace; the sweep kills the worker only when one has run out.
    const due = now() + this.o.killGrace;
    this.mem.slots.killAt[s] = due;
    if (e.killAt === 0 || due < e.killAt) e.killAt = due;
    this.#timed(this.o.killGrace);
  }

  /**
   * Tells every worker to stop and frees what they held once they are gone. Gracefully, each
   * leaves by itself (running its task module's teardown) within TEARDOWN_GRACE ms or is then
   * terminated; with `force`, all are terminated now.
   */
  async stopAll(force = true): Promise<void> {
    const { mem } = this;
    this.#stopped = true;
    Atomics.store(mem.ctl, STOP, 2);
    notifyAll(taskWord(mem.ctl));
    const live = this.#entries.filter((e): e is WorkerEntry => !!e);
    for (const e of live) notifyAll(e.wake);
    for (const e of live) e.leaving = true;
    await Promise.all(live.map((e) => (force ? e.terminate() : exitWithin(e, TEARDOWN_GRACE))));
    releaseAbandoned(mem, this.#settler, undefined);
  }
}
