/**
 * The one place a thread sleeps on shared memory: the only `Atomics.wait` and the only
 * `Atomics.waitAsync` in skein. Everything else (wait words, sleeps with deadlines and signals,
 * the spin lock's futex, a plain nap) calls these.
 *
 * A pending `Atomics.waitAsync` keeps no process alive on any Node from 20 to 26
 * (nodejs/node#61941): a process whose only pending work is such a wait would exit under it. So an
 * async sleep (sleep.ts) holds the event loop through {@link holdLoop} while its caller awaits it.
 */

/** How a park ended: woken by a notify, its timeout passed, or the slot no longer held the value. */
export type ParkOutcome = 'ok' | 'timed-out' | 'not-equal';

/**
 * Blocks the calling thread while `view[at] === value`, for at most `ms` (undefined: no limit).
 * Allowed on Node's main thread too (it blocks the event loop there).
 */
export function parkSync(view: Int32Array, at: number, value: number, ms: number | undefined): ParkOutcome {
  return Atomics.wait(view, at, value, ms);
}

/** The result of {@link parkAsync}: settled at once, or a promise that settles when the park ends. */
export type AsyncPark = { async: false; value: ParkOutcome } | { async: true; value: Promise<ParkOutcome> };

/**
 * Sleeps without blocking the thread while `view[at] === value`, for at most `ms`. Holds nothing
 * open: the caller holds the loop while it cares (sleep.ts). V8 cannot cancel the park, so a caller
 * that stops caring early leaves it queued until a notify or its timeout (word.ts: LINGERING).
 */
export function parkAsync(view: Int32Array, at: number, value: number, ms: number | undefined): AsyncPark {
  return Atomics.waitAsync(view, at, value, ms) as AsyncPark;
}

const napWord = new Int32Array(new SharedArrayBuffer(4));

/** Sleeps `ms` milliseconds, blocking the thread (a worker's back-off; nothing wakes it early). */
export function napSync(ms: number): void {
  parkSync(napWord, 0, 0, ms);
}

// The ref'd handle: one interval for the whole thread, ref'd while any async sleep is pending and unref'd otherwise (toggling a ref is a flag, far cheaper than a timer per sleep).
let holds = 0;
let keepAlive: ReturnType<typeof setInterval> | undefined;

/** Keeps this thread's event loop alive until the matching {@link releaseLoop}. */
export function holdLoop(): void {
  if (holds++ === 0) {
    if (keepAlive === undefined) keepAlive = setInterval(() => {}, 1 << 30);
    else keepAlive.ref();
  }
}

/** Ends one {@link holdLoop}. */
export function releaseLoop(): void {
  if (--holds === 0) keepAlive?.unref();
}

/** Async sleeps now pending in this thread (for tests: a settled wait leaves none). */
export function pendingAsyncWaitCount(): number {
  return holds;
}
