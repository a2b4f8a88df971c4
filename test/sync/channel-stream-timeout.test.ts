import { Channel, recv, select } from 'skein';
import { describe, expect, it } from 'vitest';
import { runOp } from '../fixtures/channel-helpers.js';

const SIZE = 1 << 20; // 256 rings of 4 KiB: it streams
const STALL_MS = 1500; // the sender stands still this long after its first chunks
const LIMIT_MS = 200; // the receiver's timeout (or abort), which falls inside the stall

type Second = [number, boolean] | string | { ok: boolean; value?: unknown };

/** A large byte array as [length, every byte i == i % 251] (channel-ops.mjs's pattern). */
function bigOrValue(v: unknown): unknown {
  if (!(v instanceof Uint8Array) || v.length <= 1000) return v;
  let ok = true;
  for (let i = 0; i < v.length; i++) if (v[i] !== i % 251) ok = false;
  return [v.length, ok];
}

/** The main thread's receive of the large message, limited by LIMIT_MS in one of three ways. */
async function mainTimed(how: string, ch: Channel<unknown>): Promise<Second> {
  try {
    if (how === 'select') {
      const r = await select<unknown>([recv(ch)], { timeout: LIMIT_MS });
      return r.ok ? (bigOrValue(r.value) as Second) : { ok: false };
    }
    const opts = how === 'timeout' ? { timeout: LIMIT_MS } : { signal: AbortSignal.timeout(LIMIT_MS) };
    const r = await ch.recv(opts);
    return r.ok ? (bigOrValue(r.value) as Second) : r;
  } catch (e) {
    return (e as Error).name;
  }
}

describe('Channel: a receive whose limit expires in the middle of a streamed message', () => {
  // byte-ring.ts invariant 8: once a receive has read a message's FIRST chunk it takes the whole
  // message, whatever its timeout or signal; nothing is lost and no receiver is left blocked.
  it.each([
    ['a worker, recvSync with a timeout', 'worker-sync'],
    ['a worker, recv with a timeout', 'worker-async'],
    ['the main thread, recv with a timeout', 'timeout'],
    ['the main thread, recv with an abort signal', 'signal'],
    ['the main thread, select with a timeout', 'select'],
  ])('%s: takes the whole message, and the next receiver gets the next one', async (_, how) => {
    const ch = new Channel<unknown>({ capacity: 4, bytes: 4096 });
    const sender = runOp<string>('sendBigStalled', { ch, size: SIZE, stallMs: STALL_MS, timeout: 4000 });
    let got: [unknown, Second];
    if (how.startsWith('worker')) {
      got = await runOp('recvThenTimed', { ch, timeout: LIMIT_MS, sync: how === 'worker-sync' });
    } else {
      const first = await ch.recv({ timeout: 20_000 });
      got = [first.ok ? first.value : first, await mainTimed(how, ch)];
    }
    expect(got).toEqual(['hello', [SIZE, true]]);
    // another thread receives next: the consumer lock was not left held
    expect(await runOp('recvTimeout', { ch, timeout: 3000 })).toEqual({ ok: true, value: 'after' });
    expect(await sender).toBe('sent');
    const c = new Int32Array(ch.handle.sab, 0, 512);
    expect(c[128]).toBe(0); // CLOCK free
    expect(ch.length).toBe(0);
  }, 20_000);
});
