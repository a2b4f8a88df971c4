import { Channel, recv, select, send, TimeoutError } from 'skein';
import { describe, expect, it } from 'vitest';
import { runOp } from '../fixtures/channel-helpers.js';

/**
 * Each receiver's list of [channel, producer, index] shows every producer's order per channel, and
 * all lists together hold exactly the indexes producer p says it sent (sentBy[p - 1]); returns how many.
 */
function expectEachSentOnce(got: (readonly (readonly [number, number, number])[])[], sentBy: number[][]): number {
  const delivered = new Map<number, number[]>(sentBy.map((_, k) => [k + 1, []]));
  for (const list of got) {
    const last = new Map<string, number>();
    for (const [c, p, i] of list) {
      expect(i).toBeGreaterThan(last.get(`${c}:${p}`) ?? -1); // each sender's order, per channel
      last.set(`${c}:${p}`, i);
      delivered.get(p)?.push(i);
    }
  }
  let total = 0;
  for (const [p, idx] of delivered) {
    idx.sort((a, b) => a - b);
    expect(idx, `producer ${p}`).toEqual(sentBy[p - 1]);
    total += idx.length;
  }
  return total;
}

describe('Channel under churn', () => {
  it('timeouts, aborts, large messages and a close racing with sends: delivered == sent, exactly once', async () => {
    for (const bigEvery of [0, 7]) {
      const ch = new Channel<{ p: number; i: number }>({ capacity: 8, bytes: 4096 });
      const producers = [1, 2, 3].map((id) =>
        runOp<number[]>('produceRace', { ch, id, bigEvery, timeout: 1 }),
      );
      const consumers = [0, 1].map(() => runOp<[number, number][]>('consumeRace', { ch, timeout: 1 }));
      // main receives too, alternating short timeouts, aborts and select with a timeout
      const mainGot: [number, number][] = [];
      const idle = new Channel<{ p: number; i: number }>({ capacity: 1 });
      let stop = false;
      const mainConsumer = (async () => {
        for (let k = 0; ; k++) {
          try {
            let r: { ok: boolean; value?: { p: number; i: number } };
            if (k % 3 === 0) r = await ch.recv({ timeout: 1 });
            else if (k % 3 === 1) r = await ch.recv({ signal: AbortSignal.timeout(1) });
            else r = await select<{ p: number; i: number }>([recv(idle), recv(ch)], { timeout: 1 });
            if (!r.ok) {
              if (stop) return;
              continue;
            }
            const v = r.value as { p: number; i: number };
            mainGot.push([v.p, v.i]);
          } catch (e) {
            if (!(e instanceof TimeoutError) && (e as Error).name !== 'AbortError') throw e;
          }
        }
      })();
      // The race window starts once the workers run (their start-up is slow on a loaded machine).
      const sent = new Int32Array(ch.handle.sab, 0, 512);
      for (let t = 0; Atomics.load(sent, 97) < 20 && t < 200; t++) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 1500));
      stop = true;
      ch.close();
      const sentBy = await Promise.all(producers);
      const got = [...(await Promise.all(consumers)), mainGot];
      await mainConsumer;
      idle.close();

      const total = expectEachSentOnce(
        got.map((list) => list.map(([p, i]) => [0, p, i] as const)),
        sentBy,
      );
      expect(total).toBeGreaterThan(100);
      expect(ch.length).toBe(0);
      const c = new Int32Array(ch.handle.sab, 0, 512);
      expect(c[96]).toBe(2); // PLOCK: closed, not held
      expect(c[128]).toBe(0); // CLOCK free
    }
  });

  it('rendezvous channels under selects on both sides: every send that went was received once', async () => {
    // Senders select over two rendezvous channels, receivers select over both; all with 1-2 ms
    // timeouts, so offers are taken back while receivers arrive. A select's send counts as sent
    // only if it returned, and then exactly one receiver got it (some messages stream: bytes 4096).
    const chs = [0, 1].map(() => new Channel<{ p: number; i: number }>({ capacity: 0, bytes: 4096 }));
    const producers = [1, 2, 3].map((id) =>
      runOp<number[]>('selectProduceRace', { chs, id, bigEvery: id === 3 ? 5 : 0, timeout: 2, sync: id !== 2 }),
    );
    const consumers = [true, false].map((sync) =>
      runOp<[number, number, number][]>('selectConsumeRace', { chs, timeout: 1, sync }),
    );
    // main thread: an async sender and receiver of its own, on the same channels
    let stop = false;
    const mainSent: number[] = [];
    const mainGot: [number, number, number][] = [];
    const mainSender = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          await select([send(chs[0], { p: 4, i }), send(chs[1], { p: 4, i })], { timeout: 2 });
          mainSent.push(i);
        } catch (e) {
          if ((e as Error).name === 'ChannelClosedError') return;
          if (!(e instanceof TimeoutError)) throw e;
        }
      }
    })();
    const mainReceiver = (async () => {
      for (;;) {
        try {
          const r = await select<{ p: number; i: number }>([recv(chs[0]), recv(chs[1])], { timeout: 1 });
          if (!r.ok) return;
          const v = r.value as { p: number; i: number };
          mainGot.push([r.index, v.p, v.i]);
        } catch (e) {
          if (!(e instanceof TimeoutError)) throw e;
        }
      }
    })();
    await new Promise((r) => setTimeout(r, 2500));
    stop = true;
    await mainSender;
    for (const c of chs) c.close();
    const sentBy = [...(await Promise.all(producers)), mainSent];
    await mainReceiver;
    const got = [...(await Promise.all(consumers)), mainGot];
    const total = expectEachSentOnce(got, sentBy);
    expect(total).toBeGreaterThan(50);
    expect(mainSent.length).toBeGreaterThan(0);
  });

  it('receivers with short timeouts, some giving up for good, and large senders that stall mid-stream: each message once and intact', async () => {
    // A receive whose timeout fell inside a streamed message kept the consumer lock and its part for
    // a later receive of its thread; a thread that then gave up left the lock held for good, and
    // every later receiver and sender waited out their limits. Now a receive that has begun a
    // message takes it whole (byte-ring.ts invariant 8).
    const ch = new Channel<Uint8Array>({ capacity: 8, bytes: 4096 });
    const senders = 3;
    const count = 40;
    const sending = Array.from({ length: senders }, (_, k) =>
      runOp<number>('sendPatterned', { ch, id: k + 1, count, stallEvery: 3 + k, stallMs: 15, timeout: 20_000 }),
    );
    const got: [number, number, boolean][] = [];
    let closed = false;
    const giveUpBy = Date.now() + 30_000; // bounded: a wedged channel fails below, it does not hang
    // Three slots of worker receivers with 1-2 ms timeouts; one that gave up is replaced by a new thread.
    const slots = [0, 1, 2].map(async (k) => {
      while (!closed && Date.now() < giveUpBy) {
        const r = await runOp<{ got: [number, number, boolean][]; closed: boolean }>('recvPatterned', {
          ch,
          timeout: 1 + (k % 2),
          sync: k !== 1,
          patience: 3,
        });
        got.push(...r.got);
        if (r.closed) closed = true;
      }
    });
    // main receives too: short timeouts, abort signals and selects
    const main = (async () => {
      for (let n = 0; !closed && Date.now() < giveUpBy; n++) {
        try {
          let r: { ok: boolean; value?: Uint8Array };
          if (n % 3 === 0) r = await ch.recv({ timeout: 1 });
          else if (n % 3 === 1) r = await ch.recv({ signal: AbortSignal.timeout(1) });
          else r = await select<Uint8Array>([recv(ch)], { timeout: 1 });
          if (!r.ok) return;
          const v = r.value as Uint8Array;
          const id = v[0];
          const i = v[1] | (v[2] << 8);
          let ok = v.length === (i % 3 === 0 ? 200 : 20_000 + i * 37);
          for (let b = 3; ok && b < v.length; b++) if (v[b] !== ((id * 7 + i + b) & 255)) ok = false;
          got.push([id, i, ok]);
        } catch (e) {
          if (!(e instanceof TimeoutError) && (e as Error).name !== 'AbortError') throw e;
        }
      }
    })();
    expect(await Promise.all(sending)).toEqual(Array.from({ length: senders }, () => count));
    ch.close();
    await Promise.all([...slots, main]);
    expect(got.filter(([, , ok]) => !ok)).toEqual([]);
    const keys = got.map(([p, i]) => `${p}:${i}`).sort();
    const want = Array.from({ length: senders * count }, (_, n) => `${Math.floor(n / count) + 1}:${n % count}`).sort();
    expect(keys).toEqual(want); // every message exactly once
    const c = new Int32Array(ch.handle.sab, 0, 512);
    expect(c[128]).toBe(0); // CLOCK free
    expect(ch.length).toBe(0);
  }, 60_000);
});
