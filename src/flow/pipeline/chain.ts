/**
 * Chain tasks: several functions of one task module run in turn inside one task, each under its own
 * policies, with per-stage counters in shared memory. This is how consecutive pipeline stages on one
 * pool meet in the worker instead of passing each item back through the main thread.
 *
 * A chain task is an ordinary task whose `fn` is the builtin {@link CHAIN_FN} and whose input is a
 * {@link ChainTask}. The worker side (chain-task.ts) knows policies only by shape: a stage's breaker
 * is any object with `execute(fn, { signal })`, its limiter and its gate any object with `acquire`;
 * they arrive live in a worker because they are shared objects (handle protocol).
 *
 * The spec (functions, policies, shared counters) crosses to each worker once: a task carries the
 * spec's `id`, and a worker that has not seen that id throws {@link ChainSpecMissingError}, so the
 * main thread sends that one task again with the spec (PoolSegment in segment.ts).
 *
 * Stats layout: Int32 words over `spec.stats`. Stage j owns [j * STAGE_WORDS, (j + 1) * STAGE_WORDS):
 * INFLIGHT (running now), QUEUED (waiting for its gate or limiter), DONE, FAILED (tries that threw),
 * RETRIED, DEAD (dead-lettered). Any thread adds to them with Atomics.add; readers only load.
 * Then, from `progressAt(stages)`, one progress word per ticket (a chain task in flight):
 * `gen * STATE_SPAN + state`, where state 2j means "at stage j, not running it" and 2j + 1 "running
 * stage j" (INFLIGHT[j] counts it); bit FAILED_MARK of the low bits is P5's mark, bit LEFT_MARK P6's.
 * Then, from `ownerAt(stages, tickets)`, one word per ticket: 1 + the pool worker id of the runner
 * that last took the ticket's item (0: none yet), stored before its first P2 CAS and only while the
 * progress word is still that try's (P6). The protocol:
 *
 *  P1. The main thread writes (gen, 2k) before it submits a chain starting at stage k; gen counts up
 *      per submission (22 bits), so a word left by an earlier task on the same ticket never matches.
 *  P2. A runner enters stage j by CAS (gen, 2j) -> (gen, 2j + 1), and only then adds INFLIGHT[j]. A
 *      failed CAS means the main thread gave the task up: the runner stops without running stage j.
 *  P3. A runner leaves stage j by CAS (gen, 2j + 1) -> (gen, 2j + 2) on success or (gen, 2j |
 *      FAILED_MARK) on failure (P5), and subtracts INFLIGHT[j], and counts DONE[j] or FAILED[j], only
 *      if its CAS succeeded.
 *  P4. When a chain task settles without the runner's verdict (worker crash, pool timeout, abort),
 *      the main thread reads the word: 2j or 2j + 1 names stage j as the one that failed. It CASes
 *      the word, odd or even, to (gen, 2j | FAILED_MARK), then counts FAILED[j], and subtracts
 *      INFLIGHT[j] if the word it replaced was odd (a CAS that fails reads the word again). A runner
 *      still going (an abort settles the task at once) then fails its next P2 or P3 CAS and counts
 *      nothing more. By P3 and P4 exactly one thread (whoever wins the CAS on the odd word)
 *      subtracts, so INFLIGHT never drifts, and one try is counted once. A word already marked (P5)
 *      was counted by the runner.
 *  P5. The mark says "failed at j, and counted by the runner": it is set by the very CAS that leaves
 *      stage j (P3), so the main thread, reading the word after the task settled without a verdict it
 *      received (P4: an abort settles a task at once, while its runner goes on), never counts that
 *      try again. In a batch task the item's result travels with the batch's; if the batch dies
 *      first, the main thread reads the mark: the item failed at j, counted, after stages [k, j)
 *      counted DONE. It takes those counts back before it runs the item again alone, so the counts
 *      stay one per try that reached the main thread (pool-segment.ts).
 *  P6. A ticket is one of its segment's `concurrency` slots, so it is not given to another try while
 *      a runner may still be inside one of its stages. When P4's CAS replaced an odd word (the runner
 *      is running stage j's function, which may ignore its aborted signal), or the take-back of a
 *      batch item that reruns alone (P5) found its runner entered after the batch was judged, the
 *      main thread marks the word as P4 does and holds the ticket until the runner has left: the
 *      runner, whose P3 CAS then fails, CASes the marked word (gen, 2j | FAILED_MARK) to the same plus
 *      LEFT_MARK; or until the worker named by the ticket's owner word is no longer alive (the pool
 *      ended it after its kill grace). The owner word is stored before the P2 CAS that makes the word
 *      odd, so a main thread that saw the odd word reads the right owner; a runner stores it only if
 *      it still reads its own (gen, 2k), so the rest of a batch that runs on after the batch was given
 *      up (its items rerun on other workers) does not name itself owner of their tickets. (Only a
 *      runner stalled between that load and its store, while the ticket was taken over, reused and
 *      entered, could still do so.) An even word at P4 needs no wait: its runner fails its next P2.
 *      "Left" is as far as the runner knows: a stage whose own policy gave up on its call (its
 *      timeout fired, or a breaker without callNow that rejects on abort) leaves at once, while a
 *      function that ignores its signal may run on; that is the documented meaning of a stage timeout
 *      (README), not a breach of P6.
 *  P7. A stage with a gate (a shared Semaphore, when its concurrency is below its segment's) is run
 *      holding one permit: the runner takes it before its P2 CAS and gives it back after its P3 (or
 *      P6) CAS, in a finally. A runner whose worker dies inside the stage (a crash, out of memory, the
 *      pool's kill) never gives it back, and the stage would run one item fewer at a time for good.
 *      So when a P6 hold ends because the owner's worker is gone and the word still lacks LEFT_MARK,
 *      the main thread gives that permit back, once. The runner sets LEFT_MARK before it gives its
 *      permit back, and the main thread reads the word after it has seen the worker gone (its exit),
 *      so a word without the mark then means the permit was never given back. (A worker that dies in
 *      the few synchronous steps between taking the permit and P2, or between LEFT_MARK or P3 and
 *      giving it back, still loses it.)
 */

/** The builtin task (pool/worker/builtin-tasks.ts) that runs a chain. */
export const CHAIN_FN = 'skein:chain';
/** The builtin task that runs a chain on several items in turn (one task, one wake-up, for a batch). */
export const CHAIN_BATCH_FN = 'skein:chain-batch';

export const STAGE_WORDS = 8;
export const INFLIGHT = 0;
export const QUEUED = 1;
export const DONE = 2;
export const FAILED = 3;
export const RETRIED = 4;
export const DEAD = 5;
/** A progress word's low 9 bits: state 2 * stage (+1 while running; at most 63 stages), P5's and P6's marks. */
export const STATE_SPAN = 512;
export const FAILED_MARK = 128;
export const LEFT_MARK = 256;
export const MAX_CHAIN_STAGES = 63;
/** Generations are 22 bits, so the word (gen * STATE_SPAN + low bits) stays a positive Int32. */
export const GEN_MASK = 0x3fffff;

/** The generation a progress word carries. */
export function genOf(word: number): number {
  return Math.floor(word / STATE_SPAN);
}

/** A progress word's state: 2j at stage j, 2j + 1 running it (without P5's mark). */
export function stateOf(word: number): number {
  return word % STATE_SPAN & (FAILED_MARK - 1);
}

/** Whether a progress word carries P5's mark (failed at stage stateOf / 2, counted). */
export function markedFailed(word: number): boolean {
  return (word % STATE_SPAN & FAILED_MARK) !== 0;
}

/** Whether a progress word carries P6's mark (its runner has left the stage P4 took over). */
export function markedLeft(word: number): boolean {
  return (word % STATE_SPAN & LEFT_MARK) !== 0;
}

/** Index of the first progress word. */
export function progressAt(stages: number): number {
  return stages * STAGE_WORDS;
}

/** Index of the first owner word (P6), in a stats buffer of `words` Int32 words for `stages` stages. */
export function ownerAt(stages: number, words: number): number {
  return progressAt(stages) + (words - progressAt(stages)) / 2;
}

/** Bytes of a stats buffer for `stages` stages and `tickets` chain tasks in flight. */
export function statsBytes(stages: number, tickets: number): number {
  return (progressAt(stages) + 2 * tickets) * 4;
}

/**
 * A breaker as a chain sees it (a CircuitBreaker, or any policy). What it gives back is the
 * function's result or its fallback's, so `unknown`: an item's output either way.
 */
export interface ChainBreaker {
  execute<T>(fn: (ctx: { signal: AbortSignal }) => T | PromiseLike<T>, opts?: { signal?: AbortSignal }): Promise<unknown>;
  /** CircuitBreaker's: `execute`, synchronous as far as `fn` is (chain-runner.ts runs such stages in its loop). */
  callNow?<T>(fn: () => T | PromiseLike<T>): unknown;
}

/** A limiter or gate as a chain sees it: TokenBucket takes `(n, opts)`, the others `(opts)`. */
export interface ChainAcquirer {
  readonly handle?: { readonly kind: string };
  acquire(...args: never[]): Promise<unknown>;
}

/** A gate's permit. */
export interface ChainPermit {
  release(): void;
}

/** Everything about a chain that stays the same from task to task. */
export interface ChainSpec {
  /** Unique per chain; keys the worker's cache of specs. */
  readonly id: string;
  /** The module export each stage runs ('' for the default export). */
  readonly fns: readonly string[];
  readonly stats: SharedArrayBuffer;
  /** One SharedHistogram buffer per stage: run time of each try. */
  readonly hists: readonly SharedArrayBuffer[];
  readonly breakers: readonly (ChainBreaker | null)[];
  readonly limiters: readonly (ChainAcquirer | null)[];
  /** Semaphores that cap a stage below the chain's own concurrency (per-stage concurrency). */
  readonly gates: readonly (ChainAcquirer | null)[];
  /** Per-stage time limit in ms; 0 for none. */
  readonly timeouts: readonly number[];
}

/** The input of one chain task: run stages [k, e) on `v`. */
export interface ChainTask {
  v: unknown;
  k: number;
  e: number;
  id: string;
  /** Ticket (progress word index past progressAt), or -1 for none. */
  t: number;
  g: number;
  /** The spec, sent only to a worker that asked for it. */
  s?: ChainSpec;
}

/** One item of a batch: stages [k, batch.e) on `v`, on ticket `t` with generation `g` (P1). */
export interface ChainItem {
  v: unknown;
  k: number;
  t: number;
  g: number;
}

/**
 * The input of one batch task: each item runs in turn, as a chain task of its own would, under its
 * own ticket and progress word, so the protocol P1-P4 holds per item. A batch task resolves with one
 * entry per item, `[1, output]` or `[0, error record]`: one item's failure is its own.
 */
export interface ChainBatch {
  b: ChainItem[];
  e: number;
  id: string;
  s?: ChainSpec;
}

/** A batch task's answer for one item: done with its output, or failed with an encoded error. */
export type ChainItemResult = [1, unknown] | [0, unknown];
