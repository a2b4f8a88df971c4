/**
 * Test-only pause points for cross-thread protocols: a deterministic interleaving harness.
 *
 * A protocol step that matters to a race calls `if (stepHook !== undefined) stepHook(Step.X)`.
 * Nothing installs a hook in production, so each point costs one load of a module binding and a
 * compare. A test installs a {@link StepGate} in the threads it wants to steer: the gate pauses
 * the one thread that reaches an armed point (parked on shared memory, as if the OS had
 * preempted it there), the test lets the other parties run as far as it likes, then releases it.
 * So an interleaving that a stress test hits once in a million runs happens every time.
 *
 * Gate memory (Int32, its own SharedArrayBuffer):
 *   0 POINT    the armed point (a {@link Step}); 0: none
 *   1 THREAD   the threadId that may pause there; -1: the first to arrive
 *   2 STATE    IDLE -> ARMED (test) -> PAUSED (the thread, by CAS: one thread pauses per arming)
 *              -> RELEASED (test) -> IDLE (the paused thread, as it resumes)
 *   3 WHO      threadId of the paused thread
 *   4 HITS     how many times any thread passed the armed point (paused or not)
 * Internal (not exported from the package root; tests reach it through `skein/internal`).
 */
import { threadId } from 'node:worker_threads';
import { parkSync } from './wait/park.js';

/** The pause points. Numbers are stable: a gate armed in one thread names them for all. */
export const Step = {
  /** ring.ts claim: HEAD and TAIL read, the scan of the records between them not begun. */
  RingClaimScan: 1,
  /** ring.ts claim: the scan is done, the HEAD CAS not yet made. */
  RingClaimCas: 2,
  /** ring.ts claim: HEAD CAS won, no claimed record copied or marked CONSUMED yet. */
  RingClaimCopy: 3,
  /** channel consumer.ts tryTake: under CLOCK, the ring seen empty (TAIL read), PLOCK not yet read. */
  ChannelTakeEmpty: 4,
  /**
   * channel stream.ts StreamOut #pump: a chunk written and its hold on PLOCK checked, not yet
   * published (for the LAST, before the CAS that commits it).
   */
  ChannelStreamPublish: 5,
  /** pool worker-main.ts start: a claimed task just made RUNNING, its function not yet called. */
  PoolTaskRunning: 6,
  /**
   * pipeline pool-segment.ts execBatch (main thread): a failed batch's items judged running or not,
   * the ones not running not yet taken back (progress-words.ts uncount).
   */
  PipelineBatchJudged: 7,
  /**
   * pool worker-main.ts take: a claimed record's task was found cancelled (its QUEUED -> CLAIMED CAS
   * failed), its Skipped result not yet written; the worker is still inside its claim.
   */
  PoolTaskSkipped: 8,
  /** pool worker-main.ts finish: the task's slot stored FINISHED, its result not yet written. */
  PoolTaskFinished: 9,
  /** pool worker-main.ts finish: the task's result written and published (readable by the main thread). */
  PoolResultWritten: 10,
  /**
   * ConcurrencyManager permit release (concurrency-manager-permit.ts): the releaser has read the
   * clock, by which the hand-off judges waiters' deadlines, and not yet taken the manager's lock.
   */
  ManagerReleaseTimed: 11,
  /**
   * ConcurrencyManager acquire (concurrency-manager.ts #wait): a waiter has found its deadline
   * passed (or its signal aborted) and not yet taken the lock to withdraw.
   */
  ManagerWaiterGivesUp: 12,
  /**
   * pool worker-main.ts: an idle worker that would claim slept on the task word until its time ran
   * out, though the word moved meanwhile and work waits in the rings: a wake-up meant for it went to
   * a waiter that did not take the work (a test counts these; the task waited for this re-check).
   */
  PoolWakeMissed: 13,
} as const;
export type StepPoint = (typeof Step)[keyof typeof Step];

/** The hook this thread runs at each point, or undefined (always, outside tests). */
export let stepHook: ((point: StepPoint) => void) | undefined;

/** Installs (or with undefined removes) this thread's hook. */
export function setStepHook(hook: ((point: StepPoint) => void) | undefined): void {
  stepHook = hook;
}

const POINT = 0;
const THREAD = 1;
const STATE = 2;
const WHO = 3;
const HITS = 4;
const IDLE = 0;
const ARMED = 1;
const PAUSED = 2;
const RELEASED = 3;

/** One pause at a time, shared by every thread it is installed in. Pass `gate.sab` to the others. */
export class StepGate {
  readonly sab: SharedArrayBuffer;
  readonly #w: Int32Array;

  constructor(sab?: SharedArrayBuffer) {
    this.sab = sab ?? new SharedArrayBuffer(8 * 4);
    this.#w = new Int32Array(this.sab);
  }

  /** Makes this thread obey the gate (call it in each thread that may pause). */
  install(): void {
    setStepHook((point) => this.#at(point));
  }

  /** The next thread (or only `thread`) to reach `point` pauses there. */
  arm(point: StepPoint, thread = -1): void {
    const w = this.#w;
    if (Atomics.load(w, STATE) !== IDLE) throw new Error('StepGate: already armed or paused');
    Atomics.store(w, HITS, 0);
    Atomics.store(w, POINT, point);
    Atomics.store(w, THREAD, thread);
    Atomics.store(w, STATE, ARMED);
  }

  /** Waits (blocking, up to `timeoutMs`) until a thread pauses; returns its threadId. */
  awaitPause(timeoutMs = 5000): number {
    const w = this.#w;
    const end = Date.now() + timeoutMs;
    for (let st = Atomics.load(w, STATE); st !== PAUSED; st = Atomics.load(w, STATE)) {
      const left = end - Date.now();
      if (left <= 0) throw new Error(`StepGate: no thread reached point ${Atomics.load(w, POINT)}`);
      parkSync(w, STATE, st, left);
    }
    return Atomics.load(w, WHO);
  }

  /** Lets the paused thread go on. */
  release(): void {
    const w = this.#w;
    if (Atomics.compareExchange(w, STATE, PAUSED, RELEASED) !== PAUSED) {
      throw new Error('StepGate: nothing is paused');
    }
    Atomics.notify(w, STATE);
  }

  /** How many times a thread passed the armed point since `arm`. */
  get hits(): number {
    return Atomics.load(this.#w, HITS);
  }

  #at(point: StepPoint): void {
    const w = this.#w;
    if (Atomics.load(w, POINT) !== point) return;
    Atomics.add(w, HITS, 1);
    const only = Atomics.load(w, THREAD);
    if (only !== -1 && only !== threadId) return;
    if (Atomics.compareExchange(w, STATE, ARMED, PAUSED) !== ARMED) return;
    Atomics.store(w, WHO, threadId);
    Atomics.notify(w, STATE);
    // Paused "as if preempted": bounded, so a test that forgets to release fails instead of hanging.
    const end = Date.now() + 30_000;
    while (Atomics.load(w, STATE) === PAUSED && Date.now() < end) parkSync(w, STATE, PAUSED, 1000);
    Atomics.store(w, POINT, 0);
    Atomics.store(w, STATE, IDLE);
    Atomics.notify(w, STATE);
  }
}
