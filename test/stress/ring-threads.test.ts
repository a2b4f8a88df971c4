// The pool's shared-memory rings under real threads (src/pool/shared/ring.ts): the main thread
// writes records of random sizes (up to the largest a record may carry, so they straddle the ring's
// end and rewind) into one small task ring, three claimer threads take runs of random length (and
// stall inside the claim now and then, so they are lapped), and echo each value into a result ring
// of their own that the main thread drains. Every record arrives exactly once, whole, and each
// claimer sees its records in the order they were written. Bounded in time.
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { createRing, encode, newEncoded, payloadLength, ResultRingReader, TaskRingWriter } from 'skein/internal';
import { describe, expect, it } from 'vitest';

const CLAIMER = new URL('../fixtures/ring-stress-claimer.mjs', import.meta.url);
const SIZE = 4096;
const MAX_PAYLOAD = SIZE / 4 - 16;
const THREADS = 3;
const RECORDS = 40_000;

/** The value of record `slot`: its size spread over [0, MAX_PAYLOAD], a third near the top. */
function valueOf(slot: number): unknown {
  const h = Math.imul(slot ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  const kind = h % 7;
  if (kind === 0) return slot;
  if (kind === 1) return slot + 0.25;
  const len = h % 3 === 0 ? MAX_PAYLOAD - ((h >>> 8) % 48) : (h >>> 8) % (MAX_PAYLOAD + 1);
  if (kind === 2) {
    const b = new Uint8Array(len);
    for (let i = 0; i < len; i++) b[i] = (slot + i * 7) & 0xff;
    return b;
  }
  if (kind === 3) return { slot, pad: 'p'.repeat(Math.max(0, len - 48)) };
  const head = `${slot}|`;
  return head + 'x'.repeat(Math.max(0, len - head.length));
}

describe('task and result rings under real threads', () => {
  it(`${RECORDS} records of random sizes through a ${SIZE}-byte ring, ${THREADS} claimers: each once, whole, in order`, { timeout: 60_000 }, async () => {
    const ring = createRing(SIZE);
    const writer = new TaskRingWriter(ring);
    const stop = new SharedArrayBuffer(4);
    const outs = Array.from({ length: THREADS }, () => new ResultRingReader(createRing(SIZE)));
    const workers = outs.map(
      (r, i) => new Worker(CLAIMER, { workerData: { ring, results: r.sab, stop, seed: 0x1234567 * (i + 1) } }),
    );
    const done = workers.map((w) => once(w, 'message'));
    const seen = new Uint8Array(RECORDS);
    const last = new Array<number>(THREADS).fill(-1);
    const problems: string[] = [];
    let received = 0;
    let written = 0;
    const enc = newEncoded();
    const deadline = Date.now() + 40_000;
    let failure: unknown;
    try {
      while (received < RECORDS) {
        if (Date.now() > deadline) throw new Error(`timed out: ${written} written, ${received} received`);
        // Write until the ring refuses, publishing in bursts of a random few.
        for (let burst = 0; written < RECORDS && burst < 64; burst++) {
          const e = encode(valueOf(written), enc);
          if (!writer.tryWrite(written, 3, e, payloadLength(e))) break;
          written++;
          if ((written & 3) === 0) writer.publish();
        }
        writer.publish();
        for (let t = 0; t < THREADS; t++) {
          outs[t].drain((slot, status, value, err) => {
            received++;
            if (err !== undefined) problems.push(`slot ${slot}: ${String(err)}`);
            else if (status !== 3) problems.push(`slot ${slot}: status ${status}`);
            else if (slot < 0 || slot >= RECORDS || seen[slot]++ !== 0) problems.push(`slot ${slot} twice or unknown`);
            else if (slot <= last[t]) problems.push(`claimer ${t}: slot ${slot} after ${last[t]}`);
            else {
              last[t] = slot;
              try {
                expect(value).toEqual(valueOf(slot));
              } catch {
                problems.push(`slot ${slot}: wrong value`);
              }
            }
          });
        }
        if (problems.length > 0) break;
        if ((received & 0xff) === 0) await new Promise((r) => setImmediate(r));
      }
    } catch (err) {
      failure = err;
    }
    Atomics.store(new Int32Array(stop), 0, 1);
    // A claimer stuck in a claim (a runaway scan over reused bytes) never reports: bounded too.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), 5000);
    });
    type Report = { claimed: number; errors: number; firstError?: string };
    let reports: Report[] | undefined;
    try {
      reports = (await Promise.race([Promise.all(done), late]))?.map(([m]) => m as Report);
    } finally {
      clearTimeout(timer);
      await Promise.all(workers.map((w) => w.terminate()));
    }
    if (failure !== undefined) throw failure;
    expect(problems.slice(0, 5)).toEqual([]);
    if (reports === undefined) throw new Error('a claimer did not stop within 5 s');
    expect(reports.map((r) => r.firstError).filter(Boolean)).toEqual([]);
    expect(reports.reduce((a, r) => a + r.claimed, 0)).toBe(RECORDS);
    expect(seen.every((c) => c === 1)).toBe(true);
    // Every claimer did take part.
    for (const r of reports) expect(r.claimed).toBeGreaterThan(0);
  });
});
