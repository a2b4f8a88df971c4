import { now } from '../memory/clock.js';
import type { NoConfig, Reopen } from '../memory/shared-object.js';
import { callable } from '../memory/validate.js';
import {
  blockUntil,
  checkWaitOptions,
  limitsOf,
  notifyAll,
  parkAsync,
  type WaitOptions,
  waitUntil,
} from '../memory/wait/index.js';
import { defineWordKind, WordObjectBase } from '../memory/word-object.js';

// Layout (Int32):
//   0 STATE    (GEN << 2) | phase. phase: NEW (nobody ran it yet, or a run failed or died),
//              RUNNING (one caller runs fn), SETTLING (its runner is leaving RUNNING), DONE.
//              GEN counts runs begun (mod 2^30), so a look at one run never acts on a later one.
//   1 PARKS    (GEN & 0xFFFF) << 16 | the runner's life parks no prober has claimed yet (O4)
//   2 PROBED   when a waiter last probed the runner (ms on memory/clock.ts `now`, as int32) (O5)
//   3 LIFE     the address the runner's life parks wait on (its value stays 0)
//   4..7 SETTLED  the wait word (memory/wait/word.ts) callers sleep on while it runs
//
// Invariants (cited as O1..O6):
//   O1. Only the caller whose CAS moves STATE NEW -> RUNNING (GEN + 1) runs fn; so at most one fn
//       runs at a time, in all threads together.
//   O2. STATE leaves RUNNING by its runner (CAS to SETTLING, then a store: DONE when fn succeeded,
//       for good; NEW when fn threw, the next caller tries again; it notifies SETTLED after either),
//       or by O4's takeover of a dead runner's run (CAS to NEW, then a notify of SETTLED).
//   O3. A waiting caller re-checks after every wake-up, and at least every PROBE_MS while a run is
//       RUNNING: DONE -> it returns; NEW -> it tries O1; RUNNING -> it probes the runner (O4).
//   O4. A runner that dies mid-run (its thread terminated, process.exit in a worker, out of memory)
//       never reaches O2's settle. The sign of its death is the one word.ts invariant 7 (the wait
//       words' census) repairs by: V8 drops a dead thread's Atomics.waitAsync parks from the
//       address's queue, so a notify that should wake a park wakes none. So a runner, before it
//       runs fn, parks LIFE_PARKS times on LIFE (async parks: they need no event loop while they
//       wait, so a runner blocked in a synchronous fn keeps them, and hold no process open) and
//       counts each in PARKS after it parked; a park woken while its run is RUNNING parks again
//       (when the runner's event loop next runs). A prober claims one counted park (CAS PARKS
//       c -> c - 1, same GEN) and then notifies LIFE once. Only claimers notify LIFE while the run
//       is RUNNING, each at most once per claim, and every claim is of a park parked before it was
//       counted; so the claimed park is still there unless its thread died: a notify that wakes 1
//       says the runner lives, one that wakes 0 says it died, and the prober moves STATE from that
//       RUNNING (CAS, GEN and all) to NEW and notifies SETTLED: the waiters look again, and one
//       takes the run over (O1). A live runner is never judged dead, so fn never runs twice at once.
//   O5. Probes are rare: one at a time in all threads, PROBE_MS apart (PROBED, CAS), and twice as
//       far apart for each claimed park the runner has not parked again. A runner whose event loop
//       is blocked (a long synchronous fn) cannot park again, so its LIFE_PARKS parks last about
//       PROBE_MS * 2^LIFE_PARKS (over two hours) of blocking; a runner that dies after that, still
//       blocked, is found only by its next park (never if it never parks again): its waiters wait
//       for their timeout, as before O4. A prober finds nothing to claim (PARKS 0) meanwhile.
//   O6. The runner wakes its own parks (the drain) while STATE is SETTLING, before its store: once
//       RUNNING is left no park of that run is left on LIFE, so parks on LIFE belong to the run that
//       is RUNNING (O4). A drain's wake may leave a prober that claimed before it with a notify that
//       wakes 0: its CAS from RUNNING then fails (STATE is SETTLING or past it). A runner that dies
//       in the few statements of SETTLING is not found (as before O4).
const STATE = 0;
const PARKS = 1;
const PROBED = 2;
const LIFE = 3;
const SETTLED = 4;
const NEW = 0;
const RUNNING = 1;
const DONE = 2;
const SETTLING = 3;
const PHASE = 3;
/** How often a waiter probes a running run's thread (O3, O5), and the first spacing of probes. */
const PROBE_MS = 250;
/** Life parks a runner keeps on LIFE (O4, O5). */
const LIFE_PARKS = 15;
const COUNT = 0xffff;

const phaseOf = (s: number): number => s & PHASE;
const genOf = (s: number): number => s >>> 2;
const stateOf = (gen: number, phase: number): number => ((gen << 2) | phase) | 0;
const parksOf = (gen: number, count: number): number => (((gen & COUNT) << 16) | count) | 0;
/** The shared clock as int32 milliseconds; differences are taken modulo 2^32 (O5). */
const msNow = (): number => Math.floor(now()) | 0;

/** Runs this thread took over from a runner whose thread had died (O4). */
export const onceStats = { takenOver: 0 };

const ONCE = defineWordKind<NoConfig, Once>({
  name: 'Once',
  tag: 12,
  layout: 2,
  stateWords: SETTLED,
  damage: (v) => {
    const count = v[PARKS] & COUNT;
    if (count > LIFE_PARKS) return `it counts ${count} life parks of its runner`;
    return v[LIFE] !== 0 ? `its life word is ${v[LIFE]}` : undefined;
  },
  make: (r) => new Once(r),
});

/**
 * Runs a function once across all threads (Go's `sync.Once`, shared): the first caller of `do`
 * runs it, callers meanwhile wait until it finished, later callers return at once. If it throws,
 * that caller gets the error and the next caller runs it again. If the thread running it dies
 * mid-run (`worker.terminate()`, `process.exit` in a worker), a waiting caller finds that within
 * about a second (later if that thread had blocked its event loop for long) and runs it
 * instead; the dead run counts as a failed one (invariants O4, O5 in src/sync/once.ts).
 *
 * @example
 * ```ts
 * const init = new Once();                                  // passed to every worker
 * await init.do(async () => { table.set(await load()); });  // true if this call ran it
 * init.doSync(() => table.set(loadSync()));                 // in a worker, blocking: false if it ran
 * ```
 */
export class Once extends WordObjectBase<NoConfig, 'Once.settled'> {
  constructor();
  /** @internal rebuilds over checked memory; use {@link Once.from}. */
  constructor(reopen?: Reopen<NoConfig>);
  constructor(reopen?: Reopen<NoConfig>) {
    super(ONCE, reopen);
  }

  /** The live Once for what arrived from another thread. */
  static from(received: unknown): Once {
    return ONCE.open(received);
  }

  /** Whether the function has run to completion (in any thread). */
  get done(): boolean {
    return phaseOf(Atomics.load(this.v, STATE)) === DONE;
  }

  // O3: 'done' when finished, the run's GEN when this caller won it (O1), undefined to wait.
  #look = (): 'done' | number | undefined => {
    const v = this.v;
    let s = Atomics.load(v, STATE);
    const phase = phaseOf(s);
    if (phase === DONE) return 'done';
    if (phase === RUNNING) {
      if (!this.#probe(s)) return undefined;
      s = Atomics.load(v, STATE); // taken over (O4): NEW, unless another caller won it already
      if (phaseOf(s) !== NEW) return undefined;
    } else if (phase !== NEW) {
      return undefined; // SETTLING: its runner stores the outcome in a moment (O2)
    }
    const gen = (genOf(s) + 1) & 0x3fffffff;
    if (Atomics.compareExchange(v, STATE, s, stateOf(gen, RUNNING)) !== s) return undefined;
    this.#live(gen);
    return gen;
  };

  /**
   * O4, O5: probes the runner of run `s` (RUNNING); true when it found the runner's thread dead and
   * moved the run back to NEW.
   */
  #probe(s: number): boolean {
    const v = this.v;
    const gen = genOf(s);
    const p = Atomics.load(v, PARKS);
    const count = p & COUNT;
    if (count === 0 || p !== parksOf(gen, count)) return false;
    const t = msNow();
    const last = Atomics.load(v, PROBED);
    if (((t - last) | 0) < PROBE_MS * 2 ** (LIFE_PARKS - count)) return false;
    if (Atomics.compareExchange(v, PROBED, last, t) !== last) return false;
    if (Atomics.compareExchange(v, PARKS, p, p - 1) !== p) return false;
    if (Atomics.notify(v, LIFE, 1) === 1) return false; // alive (its park will park again)
    // The claimed park is gone: its thread died (or, SETTLING, it drained it: the CAS fails, O6).
    if (Atomics.compareExchange(v, STATE, s, stateOf(gen, NEW)) !== s) return false;
    onceStats.takenOver++;
    notifyAll(this.word);
    return true;
  }

  /** O4: the new runner of run `gen` parks LIFE_PARKS times on LIFE; a park woken parks again while the run is RUNNING. */
  #live(gen: number): void {
    const v = this.v;
    const running = stateOf(gen, RUNNING);
    Atomics.store(v, PROBED, msNow());
    Atomics.store(v, PARKS, parksOf(gen, 0));
    const park = (): void => {
      const r = parkAsync(v, LIFE, 0, undefined);
      if (!r.async) return; // LIFE is always 0: not reached
      Atomics.add(v, PARKS, 1); // counted after it parked (O4); only the runner adds
      void r.value.then(() => {
        if (Atomics.load(v, STATE) === running) park();
      });
    };
    for (let i = 0; i < LIFE_PARKS; i++) park();
  }

  /** O2, O6: the runner of run `gen` settles it. */
  #settle(gen: number, ok: boolean): void {
    const v = this.v;
    const running = stateOf(gen, RUNNING);
    // Fails only if the run was taken over, which O4 does only for a dead runner: not this one.
    if (Atomics.compareExchange(v, STATE, running, stateOf(gen, SETTLING)) !== running) return;
    Atomics.notify(v, LIFE); // the drain (O6): its parks end and park no more
    Atomics.store(v, STATE, stateOf(gen, ok ? DONE : NEW));
    notifyAll(this.word);
  }

  /**
   * Runs `fn` unless it has run (here or in another thread); resolves to true if this call ran it.
   * Rejects with fn's error (and leaves it to run again), TimeoutError or AbortError. A runner
   * whose thread dies mid-run (terminated, exited) counts as a failed run: a waiting caller takes
   * it over within about a second (invariant O4 in once.ts).
   */
  async do(fn: () => unknown, opts?: WaitOptions): Promise<boolean> {
    checkWaitOptions(opts, 'Once.do options');
    callable(fn, 'fn');
    const r = await waitUntil(this.word, this.#look, limitsOf(opts, 'Once.do'), undefined, PROBE_MS); // O3
    if (r === 'done') return false;
    try {
      await fn();
    } catch (err) {
      this.#settle(r, false);
      throw err;
    }
    this.#settle(r, true);
    return true;
  }

  /** Blocking form of {@link do}, for worker threads (`fn` must be synchronous). */
  doSync(fn: () => unknown, opts?: WaitOptions): boolean {
    checkWaitOptions(opts, 'Once.doSync options');
    callable(fn, 'fn');
    const r = blockUntil(this.word, this.#look, limitsOf(opts, 'Once.doSync'), PROBE_MS); // O3
    if (r === 'done') return false;
    try {
      fn();
    } catch (err) {
      this.#settle(r, false);
      throw err;
    }
    this.#settle(r, true);
    return true;
  }
}
