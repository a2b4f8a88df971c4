import { Channel, recv, select, TimeoutError } from 'skein';
import { describe, expect, it } from 'vitest';
import { runOp } from '../fixtures/channel-helpers.js';

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

      const delivered = new Map<number, number[]>([1, 2, 3].map((p) => [p, []]));
      for (const list of got) {
        const last = new Map<number, number>();
        for (const [p, i] of list) {
          expect(i).toBeGreaterThan(last.get(p) ?? -1);
          last.set(p, i);
          delivered.get(p)?.push(i);
        }
      }
      let total = 0;
      for (const [p, idx] of delivered) {
        idx.sort((a, b) => a - b);
        expect(idx, `producer ${p}`).toEqual(sentBy[p - 1]);
        total += idx.length;
      }
      expect(total).toBeGreaterThan(100);
      expect(ch.length).toBe(0);
      const c = new Int32Array(ch.handle.sab, 0, 512);
      expect(c[96]).toBe(2); // PLOCK: closed, not held
      expect(c[128]).toBe(0); // CLOCK free
    }
  });
});
