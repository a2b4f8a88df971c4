/**
 * Shared-memory layout of a `ConcurrencyManager`.
 *
 * One SharedArrayBuffer, Int32 regions first, then Float64 regions (8-byte aligned), then the wait
 * histogram (memory/histogram.ts, at `bytes`), then the tag block (memory/shared-tag.ts). With
 * M = maxConcurrency permit slots and Q = queueLimit waiter slots:
 *
 * Header, Int32:
 *   0  LOCK        the lock word, and 1 its holder's stamp (memory/spin-lock.ts); every change of
 *                  the state below is made holding it (see lease-table.ts)
 *   2  IN_USE      permits held (granted and not yet released or reclaimed); never above MAX
 *   3  QUEUED      waiters in the lists
 *   4  MAX         M
 *   5  QCAP        Q
 *   6  TICKET      next waiter ticket (mod 2^32; compared by difference): FIFO order and ties
 *   7  PTOP        free permit slots on the permit free stack
 *   8  WTOP        free waiter slots on the waiter free stack
 *   9..18  HEAD[p - 1]  first waiter of priority p (1..10), -1 if none
 *   19..28 TAIL[p - 1]  last waiter of priority p, -1 if none
 * Header, Float64 (index FH + k):
 *   MIN_EXPIRY  a lower bound on the earliest lease expiry among held permits (Infinity: none);
 *               acquirers reclaim only once the clock passes it, and waiters sleep at most until it
 *   WAIT_SUM, WAIT_MAX (ms), ACQUIRED, RELEASED, REJECTED, TIMED_OUT, ABORTED, EXPIRED: counters
 *               (who counts what: lease-table.ts, Counting)
 *
 * The lease table (permit slot s < M):
 *   PGEN[s]    Int32  bumped at every grant of the slot: a permit remembers (s, gen), so releasing
 *                     a permit twice, or after its lease was reclaimed and the slot re-granted, is
 *                     recognised and ignored
 *   PSTATE[s]  Int32  FREE or HELD
 *   PWAITER[s] Int32  the waiter slot a handed-off grant waits in until its owner picks it up; -1
 *   PPRIO[s]   Int32  priority of the holder (for events)
 *   PSTACK[k]  Int32  the permit free stack, PSTACK[0 .. PTOP)
 *   PEXP[s]    Float64  lease expiry on the shared clock (ms), Infinity without a lease
 *   PSINCE[s]  Float64  when the slot was granted
 *
 * The waiter table (waiter slot w < Q):
 *   WWORD[4w .. 4w+3]  Int32  the waiter's own wait word (memory/wait/word.ts): a grant wakes
 *                             exactly the waiter it is for
 *   WSTATE[w]  Int32  FREE, WAITING or GRANTED (Atomics.store: the owner reads it without the lock)
 *   WGEN[w]    Int32  bumped whenever the slot is freed: the owner holds (w, gen) and sees at once
 *                     that a releaser removed it (its deadline passed) or a reclaim took its grant
 *   WPRIO, WTICKET, WPREV, WNEXT  Int32  priority, FIFO ticket, doubly linked list of its priority
 *   WPERMIT, WPGEN  Int32  the permit slot (and its gen) handed to this waiter
 *   WSTACK[k]  Int32  the waiter free stack, WSTACK[0 .. WTOP)
 *   WENQ, WLEASE, WDEADLINE  Float64  enqueue instant, lease (ms) to start at grant, give-up instant
 *
 * The lock's critical sections never call user code: a few dozen loads and stores, plus an O(M) scan
 * when leases expire. So the only way to leave it held is a thread terminated inside one
 * (`worker.terminate()` at that very instant); the next thread that needs the lock takes it over
 * after a second. That section's change may be half made (a waiter half linked, a count off by one),
 * and nothing repairs it: an unlikely loss (the instant is sub-microsecond), but a manager whose
 * workers were terminated is safest replaced.
 */
import { CorruptMemoryError } from '../memory/errors.js';
import { WORD_SLOTS } from '../memory/wait/index.js';

export const LOCK = 0;
export const IN_USE = 2;
export const QUEUED = 3;
export const MAX = 4;
export const QCAP = 5;
export const TICKET = 6;
export const PTOP = 7;
export const WTOP = 8;
export const HEAD = 9;
export const TAIL = 19;
const HEADER_I32 = 32;

/** Float64 header slots (offsets from `FH`). */
export const MIN_EXPIRY = 0;
export const WAIT_SUM = 1;
export const WAIT_MAX = 2;
export const ACQUIRED = 3;
export const RELEASED = 4;
export const REJECTED = 5;
export const TIMED_OUT = 6;
export const ABORTED = 7;
export const EXPIRED = 8;
const HEADER_F64 = 16;

export const FREE = 0;
export const HELD = 1;
export const WAITING = 1;
export const GRANTED = 2;

export const MAX_PERMITS = 1 << 16;
export const MAX_QUEUE = 1 << 16;

/** Where each region starts: an index into the Int32 view or the Float64 view. */
export class ManagerLayout {
  readonly max: number;
  readonly qcap: number;
  readonly pgen: number;
  readonly pstate: number;
  readonly pwaiter: number;
  readonly pprio: number;
  readonly pstack: number;
  readonly wword: number;
  readonly wstate: number;
  readonly wgen: number;
  readonly wprio: number;
  readonly wticket: number;
  readonly wprev: number;
  readonly wnext: number;
  readonly wpermit: number;
  readonly wpgen: number;
  readonly wstack: number;
  /** Float64 regions. */
  readonly fh: number;
  readonly pexp: number;
  readonly psince: number;
  readonly wenq: number;
  readonly wlease: number;
  readonly wdeadline: number;
  readonly bytes: number;

  constructor(max: number, qcap: number) {
    this.max = max;
    this.qcap = qcap;
    let i = HEADER_I32;
    const take = (n: number): number => {
      const at = i;
      i += n;
      return at;
    };
    this.pgen = take(max);
    this.pstate = take(max);
    this.pwaiter = take(max);
    this.pprio = take(max);
    this.pstack = take(max);
    this.wword = take(WORD_SLOTS * qcap);
    this.wstate = take(qcap);
    this.wgen = take(qcap);
    this.wprio = take(qcap);
    this.wticket = take(qcap);
    this.wprev = take(qcap);
    this.wnext = take(qcap);
    this.wpermit = take(qcap);
    this.wpgen = take(qcap);
    this.wstack = take(qcap);
    let f = Math.ceil(i / 2);
    const takeF = (n: number): number => {
      const at = f;
      f += n;
      return at;
    };
    this.fh = takeF(HEADER_F64);
    this.pexp = takeF(max);
    this.psince = takeF(max);
    this.wenq = takeF(qcap);
    this.wlease = takeF(qcap);
    this.wdeadline = takeF(qcap);
    /** Bytes of the lease and waiter tables (the histogram starts here). */
    this.bytes = f * 8;
  }

  /** Initializes new (zeroed) memory: all permits and waiter slots free, lists empty. */
  init(sab: SharedArrayBuffer): void {
    const v = new Int32Array(sab, 0, this.bytes / 4);
    const d = new Float64Array(sab, 0, this.bytes / 8);
    v[MAX] = this.max;
    v[QCAP] = this.qcap;
    v.fill(-1, HEAD, TAIL + 10);
    // Stacks hold the highest index at the bottom, so slot 0 is handed out first.
    for (let k = 0; k < this.max; k++) v[this.pstack + k] = this.max - 1 - k;
    for (let k = 0; k < this.qcap; k++) v[this.wstack + k] = this.qcap - 1 - k;
    v[PTOP] = this.max;
    v[WTOP] = this.qcap;
    d[this.fh + MIN_EXPIRY] = Number.POSITIVE_INFINITY;
    d.fill(Number.POSITIVE_INFINITY, this.pexp, this.pexp + this.max);
  }

  /** Checks the fixed words of memory that arrived from elsewhere (its size is checked already). */
  check(sab: SharedArrayBuffer): void {
    const v = new Int32Array(sab, 0, HEADER_I32);
    if (v[MAX] !== this.max || v[QCAP] !== this.qcap) {
      throw new CorruptMemoryError(
        `ConcurrencyManager memory is damaged: it says ${v[MAX]} permits and ${v[QCAP]} waiter slots`,
      );
    }
  }
}
