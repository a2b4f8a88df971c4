// Channel waits as seen from outside: abort signals (one listener per signal, no memory per
// wake-up) and Atomics.waitAsync left behind (protocol: src/memory/wait/word.ts).
import { getEventListeners } from 'node:events';
import { AbortError, Channel, pendingAsyncWaitCount, recv, select, send } from 'skein/internal';
import { describe, expect, it } from 'vitest';
import { heapGrowth, sleep, warningsDuring } from '../fixtures/channel-helpers.js';

/** Wait words in a channel's control block (seq slot; layout in src/sync/channel/byte-ring.ts). */
const DATA = 160;
const ROOM = 192;

function control(ch: Channel<unknown>): Int32Array {
  return new Int32Array(ch.handle.sab, 0, 512);
}

describe('channel waits and abort signals', () => {
  it('many waits sharing one signal add one abort listener, not one each (no MaxListeners warning)', async () => {
    const warnings = await warningsDuring(async () => {
      const ac = new AbortController();
      const empty = new Channel<number>({ capacity: 1 });
      const full = new Channel<number>({ capacity: 1 });
      full.trySend(0);
      const waits: Promise<unknown>[] = [];
      for (let i = 0; i < 20; i++) {
        const signal = ac.signal;
        waits.push(empty.recv({ signal }), full.send(i, { signal }));
        waits.push(select([recv(empty), send(full, i)], { signal }));
      }
      await sleep(20); // past the polls: every one sleeps
      expect(getEventListeners(ac.signal, 'abort').length).toBeLessThanOrEqual(1);
      ac.abort('stop');
      const settled = await Promise.allSettled(waits);
      expect(settled.map((r) => (r.status === 'rejected' ? r.reason : r.value))).toEqual(
        waits.map(() => expect.any(AbortError)),
      );
    });
    expect(warnings).not.toContain('MaxListenersExceededWarning');
    expect(pendingAsyncWaitCount()).toBe(0);
  });

  it('a receive with a signal woken many times keeps no memory per wake-up', async () => {
    const ch = new Channel<number>({ capacity: 1 });
    const c = control(ch);
    const p = ch.recv({ signal: new AbortController().signal });
    await sleep(5);
    const grown = await heapGrowth(async () => {
      for (let i = 0; i < 20_000; i++) {
        // a wake-up after which there is still nothing to take (another receiver was faster)
        Atomics.add(c, DATA, 1);
        Atomics.notify(c, DATA);
        await new Promise((r) => setImmediate(r));
      }
    });
    ch.trySend(7);
    expect(await p).toEqual({ ok: true, value: 7 });
    // Racing every sleep against one long-lived abort promise kept ~300 bytes per wake-up.
    expect(grown).toBeLessThan(2 * 1024 * 1024);
  });

  it('aborted waits leave no Atomics.waitAsync behind on an idle channel', async () => {
    const empty = new Channel<number>({ capacity: 1 });
    const full = new Channel<number>({ capacity: 1 });
    full.trySend(0);
    for (const [op, ch, word] of [
      [() => empty.recv({ signal: AbortSignal.timeout(1) }), empty, DATA],
      [() => full.send(1, { signal: AbortSignal.timeout(1) }), full, ROOM],
      [() => select([recv(empty)], { signal: AbortSignal.timeout(1) }), empty, DATA],
    ] as const) {
      for (let i = 0; i < 20; i++) await expect(op()).rejects.toThrow(AbortError);
      // whatever still waits on the word is woken, and counted, by a notify
      expect(Atomics.notify(control(ch), word)).toBe(0);
    }
  });
});
