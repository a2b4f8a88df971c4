// The ring claim under a chosen interleaving (issue 10 item 6), with the StepGate harness: a worker
// reads HEAD and TAIL, is paused there "preempted" while another claimer and the writer lap the
// ring, then resumes its scan over bytes that now belong to other records. It must retry from the
// new HEAD, not throw CorruptMemoryError (it did, every time, before the claim reloaded HEAD).
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import {
  CorruptMemoryError,
  createRing,
  encode,
  newEncoded,
  payloadLength,
  Step,
  StepGate,
  TaskRingReader,
  TaskRingWriter,
} from 'skein/internal';
import { describe, expect, it } from 'vitest';

const CLAIMER = new URL('../fixtures/ring-claimer.mjs', import.meta.url);
const SIZE = 4096; // the smallest ring: a lap is cheap to make

/** Writes one task record whose value is `value`; its record length follows from the value's size. */
function write(w: TaskRingWriter, slot: number, value: unknown): void {
  const e = encode(value, newEncoded());
  if (!w.tryWrite(slot, 0, e, payloadLength(e))) throw new Error(`ring full at slot ${slot}`);
}

/** Claims everything published, as another worker would (marks the records CONSUMED). */
function claimAll(r: TaskRingReader): number[] {
  const slots: number[] = [];
  while (r.claim(64, (s) => slots.push(s), () => {}, () => {}) > 0);
  return slots;
}

describe('ring claim: a claimer preempted between reading HEAD and scanning', () => {
  it('retries from the new HEAD when the writer lapped the ring meanwhile', async () => {
    const sab = createRing(SIZE);
    const writer = new TaskRingWriter(sab);
    const other = new TaskRingReader(sab);
    // HEAD at 16, off the boundaries of the records the writer will lay over it after the lap.
    write(writer, 0, '');
    writer.publish();
    expect(claimAll(other)).toEqual([0]);
    for (let s = 1; s <= 3; s++) write(writer, s, 'a'.repeat(20)); // 48-byte records
    writer.publish();

    const gate = new StepGate();
    gate.arm(Step.RingClaimScan);
    const worker = new Worker(CLAIMER, { workerData: { ring: sab, gate: gate.sab, max: 8 } });
    const reply = once(worker, 'message');
    try {
      gate.awaitPause(10_000); // the worker read HEAD = 16 and TAIL and stopped there
      // Meanwhile: another claimer takes those records, and the writer laps the ring with 64-byte
      // records whose payload bytes ('x' = 0x78) now sit where the paused worker will look.
      expect(claimAll(other)).toEqual([1, 2, 3]);
      let slot = 100;
      for (let i = 0; i < 62; i++) write(writer, slot++, 'x'.repeat(40));
      writer.publish();
      gate.release();
      const [msg] = (await reply) as [{ error?: string; message?: string; n?: number; taken?: { slot: number }[] }];
      expect(msg.error, msg.message).toBeUndefined();
      // It claimed from where HEAD is now: the first records of the new lap, whole and in order.
      expect(msg.taken?.map((t) => t.slot)).toEqual([100, 101, 102, 103, 104, 105, 106, 107]);
      expect(claimAll(other)).toEqual(Array.from({ length: 54 }, (_, i) => 108 + i));
    } finally {
      await worker.terminate();
    }
  });

  it('still throws CorruptMemoryError when HEAD did not move (the bytes really are corrupt)', () => {
    const sab = createRing(SIZE);
    const writer = new TaskRingWriter(sab);
    for (let s = 0; s < 3; s++) write(writer, s, 'a'.repeat(20));
    writer.publish();
    writer.i32[48 / 4] = 0x18787878; // the second record's length word, smashed
    const reader = new TaskRingReader(sab);
    expect(() => claimAll(reader)).toThrow(CorruptMemoryError);
    writer.i32[48 / 4] = 1024; // a length that fits the ring but runs past TAIL
    expect(() => claimAll(reader)).toThrow(/runs past TAIL/);
  });
});
