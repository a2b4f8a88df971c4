import { spawn } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import {
  AbortError,
  belledOf,
  blockUntil as blockUntilOn,
  checkWaitOptions,
  enterBelled,
  InvalidArgumentError,
  leaveBelled,
  limitsOf,
  lingeringOf,
  newWord,
  notifyAll,
  now,
  pendingAsyncWaitCount,
  register,
  ring as ringOn,
  seqOf,
  sleepBelledSync,
  sleepersOf,
  TimeoutError,
  unregister,
  type WaitOptions,
  waitUntil as waitUntilOn,
  wordAt,
} from 'skein/internal';
import { describe, expect, it } from 'vitest';
import { runOp, sleep, until } from '../fixtures/sync-run.js';

/** A wait word's memory (memory/wait/word.ts: SEQ, SLEEPERS, ARMED, LINGERING). */
function word(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(16));
}

// The suites below address a word by (view, index), as the layouts that hold words do.
function waitUntil<T>(v: Int32Array, at: number, attempt: () => T | undefined, opts?: WaitOptions): Promise<T> {
  return waitUntilOn(wordAt(v, at), attempt, limitsOf(opts, 'wait'));
}
function blockUntil<T>(v: Int32Array, at: number, attempt: () => T | undefined, opts?: WaitOptions): T {
  return blockUntilOn(wordAt(v, at), attempt, limitsOf(opts, 'wait'));
}
function wake(v: Int32Array, at: number): void {
  notifyAll(wordAt(v, at));
}
// SLEEPERS and LINGERING of the word at 0 (each a count beside an epoch: word.ts invariant 7).
const sleepers = (v: Int32Array): number => sleepersOf(wordAt(v, 0));
const lingering = (v: Int32Array): number => lingeringOf(wordAt(v, 0));

describe('checkWaitOptions', () => {
  it.each([-1, Number.NaN, '5', null])('timeout %s is InvalidArgumentError', (timeout) => {
    expect(() => checkWaitOptions({ timeout } as never)).toThrow(InvalidArgumentError);
  });

  it('a signal that is not an AbortSignal is InvalidArgumentError', () => {
    expect(() => checkWaitOptions({ signal: {} } as never)).toThrow(InvalidArgumentError);
  });

  it('accepts no options, 0, Infinity and a real signal', () => {
    checkWaitOptions(undefined);
    checkWaitOptions({});
    checkWaitOptions({ timeout: 0 });
    checkWaitOptions({ timeout: Number.POSITIVE_INFINITY, signal: new AbortController().signal });
  });
});

describe('waitUntil (async)', () => {
  it('resolves once a writer makes attempt() succeed, and leaves no pending wait', async () => {
    const v = word();
    const flag = new Int32Array(new SharedArrayBuffer(4));
    expect(pendingAsyncWaitCount()).toBe(0);
    const p = waitUntil(v, 0, () => (Atomics.load(flag, 0) === 1 ? 'yes' : undefined), { timeout: 5000 });
    expect(pendingAsyncWaitCount()).toBe(1);
    const q = waitUntil(v, 0, () => (Atomics.load(flag, 0) === 1 ? 'also' : undefined));
    expect(pendingAsyncWaitCount()).toBe(2);
    await sleep(20);
    wake(v, 0); // a wake-up with nothing changed: both go back to sleep
    await sleep(20);
    expect(pendingAsyncWaitCount()).toBe(2);
    Atomics.store(flag, 0, 1);
    wake(v, 0);
    expect(await p).toBe('yes');
    expect(await q).toBe('also');
    expect(pendingAsyncWaitCount()).toBe(0);
    expect(sleepers(v)).toBe(0); // no sleeper left counted
  });

  it('returns at once without waiting when the first attempt succeeds', async () => {
    const p = waitUntil(word(), 0, () => 7);
    expect(pendingAsyncWaitCount()).toBe(0);
    expect(await p).toBe(7);
  });

  it('rejects with TimeoutError near its timeout, and leaves no pending wait', async () => {
    const t0 = now();
    await expect(waitUntil(word(), 0, () => undefined, { timeout: 50 })).rejects.toThrow(TimeoutError);
    const took = now() - t0;
    expect(took).toBeGreaterThanOrEqual(49);
    expect(took).toBeLessThan(1000);
    expect(pendingAsyncWaitCount()).toBe(0);
  });

  it('timeout 0 is one attempt', async () => {
    await expect(waitUntil(word(), 0, () => undefined, { timeout: 0 })).rejects.toBeInstanceOf(TimeoutError);
    expect(await waitUntil(word(), 0, () => 1, { timeout: 0 })).toBe(1);
  });

  it('rejects with AbortError (cause: the reason) when aborted mid-wait, and leaves no pending wait', async () => {
    const ac = new AbortController();
    const v = word();
    const p = waitUntil(v, 0, () => undefined, { signal: ac.signal });
    await sleep(10);
    ac.abort('enough');
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).cause).toBe('enough');
    expect(pendingAsyncWaitCount()).toBe(0);
    expect(sleepers(v)).toBe(0);
  });

  it('an already aborted signal rejects before the first attempt', async () => {
    let tried = false;
    const signal = AbortSignal.abort('no');
    await expect(
      waitUntil(
        word(),
        0,
        () => {
          tried = true;
          return 1;
        },
        { signal },
      ),
    ).rejects.toThrow(AbortError);
    expect(tried).toBe(false);
  });

  it('honours its timeout even when every attempt changes the wait word', async () => {
    const v = word();
    const t0 = now();
    const attempt = () => {
      wake(v, 0);
      return now() - t0 > 3000 ? 'stuck' : undefined;
    };
    await expect(waitUntil(v, 0, attempt, { timeout: 50 })).rejects.toThrow(TimeoutError);
    expect(now() - t0).toBeLessThan(1000);
    expect(pendingAsyncWaitCount()).toBe(0);
  });

  it('many waits sharing one signal add one abort listener, not one each (no MaxListeners warning)', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const ac = new AbortController();
      const v = word();
      const waits = Array.from({ length: 50 }, () =>
        waitUntil(v, 0, () => undefined, { signal: ac.signal }).catch((e: unknown) => e),
      );
      expect(getEventListeners(ac.signal, 'abort').length).toBe(1);
      // Waits that end leave nothing behind on the signal either.
      const short = await Promise.allSettled(
        Array.from({ length: 30 }, () => waitUntil(v, 0, () => undefined, { signal: ac.signal, timeout: 1 })),
      );
      expect(short.every((r) => r.status === 'rejected')).toBe(true);
      expect(getEventListeners(ac.signal, 'abort').length).toBe(1);
      // Once every wait on it has ended, the signal holds no listener of ours.
      const idle = new AbortController();
      await expect(waitUntil(v, 0, () => undefined, { signal: idle.signal, timeout: 1 })).rejects.toThrow(TimeoutError);
      expect(getEventListeners(idle.signal, 'abort').length).toBe(0);
      ac.abort('all');
      for (const e of await Promise.all(waits)) expect(e).toBeInstanceOf(AbortError);
      await sleep(10);
      expect(warnings).not.toContain('MaxListenersExceededWarning');
      expect(pendingAsyncWaitCount()).toBe(0);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('a waiter with a signal woken many times keeps no memory per wake-up', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const v = word();
    let done = false;
    const p = waitUntil(v, 0, () => (done ? 1 : undefined), { signal: new AbortController().signal });
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 20_000; i++) {
      wake(v, 0);
      await new Promise((r) => setImmediate(r)); // let it wake, fail its attempt and sleep again
    }
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    done = true;
    wake(v, 0);
    expect(await p).toBe(1);
    // Racing each sleep against one long-lived abort promise kept ~300 bytes per wake-up (6 MB here).
    expect(grown).toBeLessThan(2 * 1024 * 1024);
  });

  it('times out on time even while another thread wakes it constantly', async () => {
    const v = word();
    const stop = new SharedArrayBuffer(4);
    const poker = runOp<number>('poke', { word: v.buffer, stop });
    await until(() => Atomics.load(v, 0) > 0, 10_000, 'the poker to start');
    const t0 = now();
    await expect(waitUntil(v, 0, () => undefined, { timeout: 100 })).rejects.toThrow(TimeoutError);
    const took = now() - t0;
    Atomics.store(new Int32Array(stop), 0, 1);
    expect(await poker).toBeGreaterThan(0);
    expect(took).toBeLessThan(1500);
  });
});

describe('blockUntil (sync, in a worker)', () => {
  it('looks again within its backstop even if a wake-up is lost (nobody rings its word)', async () => {
    const flag = new SharedArrayBuffer(8);
    const f = new Int32Array(flag);
    const done = runOp<{ error: string; ms: number }>('blockUnrung', { word: new SharedArrayBuffer(16), flag, timeout: 20_000 });
    await until(() => Atomics.load(f, 1) === 1, 10_000, 'the waiter to block');
    await sleep(100);
    Atomics.store(f, 0, 1); // what it waits for, with the wake-up lost: no notify
    const r = await done;
    expect(r.error).toBe('none'); // without the backstop: TimeoutError at 20 s
    expect(r.ms).toBeLessThan(5000);
  });

  it('throws TimeoutError on time', async () => {
    const r = await runOp<{ error: string; ms: number }>('blockTimeout', {
      word: new SharedArrayBuffer(16),
      timeout: 50,
    });
    expect(r.error).toBe('TimeoutError');
    expect(r.ms).toBeGreaterThanOrEqual(49);
    expect(r.ms).toBeLessThan(1000);
  });

  it('times out on time even while another thread wakes it constantly', async () => {
    const wordSab = new SharedArrayBuffer(16);
    const stop = new SharedArrayBuffer(4);
    const poker = runOp<number>('poke', { word: wordSab, stop });
    await until(() => Atomics.load(new Int32Array(wordSab), 0) > 0, 10_000, 'the poker to start');
    // Stop the poker after 4 s whatever happens, so a waiter that never times out still ends.
    const safety = setTimeout(() => Atomics.store(new Int32Array(stop), 0, 1), 4000);
    const r = await runOp<{ error: string; ms: number }>('blockTimeout', { word: wordSab, timeout: 100 });
    Atomics.store(new Int32Array(stop), 0, 1);
    clearTimeout(safety);
    expect(await poker).toBeGreaterThan(0);
    expect(r.error).toBe('TimeoutError');
    expect(r.ms).toBeLessThan(1500);
  });

  it('honours its timeout even when every attempt changes the wait word', () => {
    const v = word();
    const t0 = now();
    // Pre-fix, a word that changed during the spin skipped the deadline check: this would spin until
    // the attempt gave up by itself after 3 s and returned 'stuck'.
    const attempt = () => {
      wake(v, 0);
      return now() - t0 > 3000 ? 'stuck' : undefined;
    };
    expect(() => blockUntil(v, 0, attempt, { timeout: 50 })).toThrow(TimeoutError);
    expect(now() - t0).toBeLessThan(1000);
  });

  it('on the main thread too (blocking it), with an already aborted signal: AbortError', () => {
    expect(() => blockUntil(word(), 0, () => undefined, { timeout: 20 })).toThrow(TimeoutError);
    expect(() => blockUntil(word(), 0, () => 1, { signal: AbortSignal.abort() })).toThrow(AbortError);
    expect(blockUntil(word(), 0, () => 3)).toBe(3);
  });
});

describe('an async wait keeps its process alive (Node 20 waitAsync issue)', () => {
  const child = fileURLToPath(new URL('../fixtures/sync-child-wait.mjs', import.meta.url));

  function runChild(mode: string): Promise<{ code: number | null; out: string; ms: number }> {
    return new Promise((resolve, reject) => {
      const t0 = Date.now();
      const p = spawn(process.execPath, [child, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (out += d));
      p.on('error', reject);
      p.on('close', (code) => resolve({ code, out, ms: Date.now() - t0 }));
    });
  }

  it('a process awaiting sem.acquire() released by a worker after 200 ms waits for it, then exits', async () => {
    const r = await runChild('semaphore');
    expect(r.code).toBe(0);
    const line = JSON.parse(r.out.trim().split('\n').pop()!);
    expect(line.mode).toBe('semaphore');
    expect(line.waitedMs).toBeGreaterThanOrEqual(190);
    expect(line.pending).toBe(0);
    expect(r.ms).toBeLessThan(10_000); // exited by itself: no timer or handle left behind
  });

  it('control: the same wait done with a bare Atomics.waitAsync lets the process exit under it', async () => {
    const r = await runChild('raw');
    expect(r.out).not.toContain('"mode"');
    expect(r.code).toBe(13); // Node: unsettled top-level await
  });
});

describe('no lost wake-up between threads (word.ts invariant 3)', () => {
  // A token goes round the main thread and three workers through one wait word woken by ring(),
  // which notifies only when a waiter armed the word: a wake-up lost between a waiter's look and its
  // park would stall the ring until the 10 s timeout.
  for (const mode of ['sync', 'async', 'mixed'] as const) {
    it(`ring: a token passed ${mode} between 4 threads, 300 rounds each`, async () => {
      const v = word();
      const state = new SharedArrayBuffer(4);
      const s = new Int32Array(state);
      const parties = 4;
      const rounds = 300;
      const workers = [1, 2, 3].map((me) =>
        runOp<number>('tokenRing', { word: v.buffer, state, me, parties, rounds, mode }),
      );
      const w = wordAt(v, 0);
      for (let r = 0; r < rounds; r++) {
        await waitUntilOn(w, () => (Atomics.load(s, 0) % parties === 0 ? true : undefined), limitsOf({ timeout: 10_000 }, 'main'));
        Atomics.add(s, 0, 1);
        ringOn(w);
      }
      expect(await Promise.all(workers)).toEqual([rounds, rounds, rounds]);
      expect(Atomics.load(s, 0)).toBe(parties * rounds);
      expect(sleepers(v)).toBe(0); // SLEEPERS: every registration taken back
      expect(pendingAsyncWaitCount()).toBe(0);
    });
  }
});

describe('lingering parks end once the word is idle (word.ts invariant 5)', () => {
  // An aborted async wait cannot take its park out of V8's queue: it counts it in LINGERING and, when
  // it is the last waiter registered, notifies the word so the park ends. When another waiter was
  // still registered and then left without a notify (timed out), the park stayed queued until some
  // writer notified the word, forever on an idle one: 20k aborted waits kept 65 MB of heap that way.
  async function abortedBehind(other: Promise<unknown>, v: Int32Array, n: number): Promise<void> {
    await until(() => sleepers(v) === 1, 10_000, 'the other waiter to register');
    for (let i = 0; i < n; i++) {
      const ac = new AbortController();
      const a = waitUntil(v, 0, () => undefined, { signal: ac.signal }).catch((e: unknown) => e);
      await null;
      ac.abort();
      expect(await a).toBeInstanceOf(AbortError);
    }
    expect(lingering(v)).toBe(n); // lingering while the other waiter is registered
    await other;
    await until(() => lingering(v) === 0, 2000, 'the lingering parks to end').catch(() => {});
    expect({ sleepers: sleepers(v), lingering: lingering(v) }).toEqual({ sleepers: 0, lingering: 0 });
    expect(pendingAsyncWaitCount()).toBe(0);
  }

  it('behind an async waiter that then times out', async () => {
    const v = word();
    const other = waitUntil(v, 0, () => undefined, { timeout: 300 }).catch((e: unknown) => e);
    await abortedBehind(other, v, 200);
    expect(await other).toBeInstanceOf(TimeoutError);
  });

  it('behind a blocking waiter in a worker that then times out', async () => {
    const v = word();
    const other = runOp<{ error: string }>('blockTimeout', { word: v.buffer, timeout: 500 });
    await abortedBehind(other, v, 200);
    expect((await other).error).toBe('TimeoutError');
  });
});

describe('a census (word.ts invariant 7)', () => {
  // A notify that wakes no park while SLEEPERS counts some moves SLEEPERS to a new epoch with count
  // 0 (a dead thread's registration is repaired so). A live waiter between its register() and its
  // park is uncounted too; it must then take nothing back from the new epoch's count.
  it('a take-back of a registration the census uncounted leaves the new epoch\'s count alone', async () => {
    const v = word();
    const w = wordAt(v, 0);
    register(w); // A: registered, not parked
    await sleep(2); // past this thread's last census (CENSUS_MIN_MS)
    notifyAll(w); // wakes nobody while 1 is counted: a census
    expect(sleepers(v)).toBe(0);
    expect(Atomics.load(v, 1) >>> 16).toBe(1); // epoch 1
    register(w); // B, counted in epoch 1
    expect(sleepers(v)).toBe(1);
    unregister(w); // one of the two goes: the uncounted one is taken back, B stays counted
    expect(sleepers(v)).toBe(1);
    unregister(w);
    expect(sleepers(v)).toBe(0);
    expect(Atomics.load(v, 1)).toBe(0x10000); // no borrow from the epoch
  });

  it('a parked waiter is woken by the census and registers again before it looks', async () => {
    const v = word();
    const w = wordAt(v, 0);
    const flag = new Int32Array(new SharedArrayBuffer(4));
    let looks = 0;
    const p = waitUntilOn(w, () => (++looks, Atomics.load(flag, 0) === 1 ? 'yes' : undefined), limitsOf({ timeout: 5000 }, 't'));
    await sleep(5);
    register(w); // a registration no one will take back, as a dead thread's
    expect(sleepers(v)).toBe(2);
    await sleep(2);
    const before = looks;
    ringOn(w); // wakes the parked waiter: no census
    await sleep(5);
    expect(looks).toBe(before + 1);
    expect(sleepers(v)).toBe(2);
    Atomics.store(flag, 0, 1);
    ringOn(w);
    expect(await p).toBe('yes');
    expect(sleepers(v)).toBe(1); // only the stale one is left
    await sleep(2);
    notifyAll(w); // wakes nobody while 1 is counted: a census
    expect(sleepers(v)).toBe(0);
    expect(pendingAsyncWaitCount()).toBe(0);
  });
});

describe('a bell sleeper (word.ts invariant 9)', () => {
  // A selectSync gone idle registers on the bell, then on each word, then counts itself in the
  // word's BELLED. A census of the word in between uncounts it without ringing the bell (BELLED
  // does not count it yet); a later write then finds SLEEPERS 0 and skips the bell too. Before the
  // sleeper looked at the words' SEQ once before parking, it slept through that write until its
  // backstop (BELL_SLICE_MS, 1 s).
  it('a census of a word between its registration and its BELLED + 1 does not hide the next write', () => {
    const bell = newWord();
    const a = wordAt(new Int32Array(new SharedArrayBuffer(5 * 4)), 0, bell);
    const bellSeen = register(bell);
    const seen = register(a);
    ringOn(a); // a write (another receiver takes its message): wakes no park while 1 is counted, a census
    expect({ sleepers: sleepersOf(a), belled: belledOf(a) }).toEqual({ sleepers: 0, belled: 0 });
    const entered = enterBelled(a);
    // It looks, finds nothing, and sleeps on the bell; a write after its look must wake it.
    ringOn(a);
    expect(seqOf(bell)).toBe(bellSeen); // the writer skipped the bell (SLEEPERS 0)
    const t0 = performance.now();
    sleepBelledSync(bell, bellSeen, [a], [seen], 500, 0);
    const slept = performance.now() - t0;
    leaveBelled(a, entered);
    unregister(a);
    unregister(bell);
    expect(slept).toBeLessThan(250);
    expect({ a: sleepersOf(a), belled: belledOf(a), bell: sleepersOf(bell) }).toEqual({ a: 0, belled: 0, bell: 0 });
  });
});
