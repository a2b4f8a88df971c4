// Task rings rewind (ring.ts REWIND): a ring drained as fast as it is filled keeps its records in
// its first bytes instead of cycling through all of it (fewer resident pages, warm cache lines),
// while a ring being filled faster than it drains still gets all of its room.
import { createRing, encode, newEncoded, payloadLength, TaskRingReader, TaskRingWriter } from 'skein/internal';
import { describe, expect, it } from 'vitest';

const SIZE = 1 << 20; // a pool's default task ring
const DATA = 128; // ring.ts: the data bytes start here

function write(w: TaskRingWriter, slot: number, value: unknown): boolean {
  const e = encode(value, newEncoded());
  return w.tryWrite(slot, 0, e, payloadLength(e));
}

function claimAll(r: TaskRingReader): number[] {
  const slots: number[] = [];
  while (r.claim(64, (s) => slots.push(s), () => {}, () => {}) > 0);
  return slots;
}

/** The highest data offset holding a nonzero byte (-1 if none): how far records have reached. */
function reach(sab: SharedArrayBuffer): number {
  const u8 = new Uint8Array(sab, DATA);
  for (let i = u8.length - 1; i >= 0; i--) if (u8[i] !== 0) return i;
  return -1;
}

describe('task ring rewind', () => {
  it('a ring drained in step with its writer stays in its first 64 KiB, every record read back in order', () => {
    const sab = createRing(SIZE);
    const w = new TaskRingWriter(sab);
    const r = new TaskRingReader(sab);
    const got: number[] = [];
    let slot = 0;
    // 4 MiB of records, in bursts of 20 (~6 KiB), each burst claimed before the next.
    for (let burst = 0; burst < 700; burst++) {
      for (let k = 0; k < 20; k++) expect(write(w, slot++, 'x'.repeat(280))).toBe(true);
      w.publish();
      got.push(...claimAll(r));
    }
    expect(got).toEqual(Array.from({ length: slot }, (_, i) => i));
    expect(reach(sab)).toBeGreaterThan(60 * 1024);
    expect(reach(sab)).toBeLessThan(64 * 1024 + 8 * 1024);
  });

  it('a ring filled faster than it drains does not rewind: it takes records up to its whole size', () => {
    const sab = createRing(SIZE);
    const w = new TaskRingWriter(sab);
    const r = new TaskRingReader(sab);
    let n = 0;
    while (write(w, n, 'z'.repeat(1000))) n++;
    w.publish();
    // ~1 KiB records: all but one of the ring's 1 MiB of room is taken.
    expect(n).toBeGreaterThanOrEqual(Math.floor(SIZE / 1024) - 1);
    expect(claimAll(r)).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  it('after a rewind with no reader running, the room is what lies below the pad, and nothing is lost', () => {
    const sab = createRing(SIZE);
    const w = new TaskRingWriter(sab);
    const r = new TaskRingReader(sab);
    let slot = 0;
    // The writer gets past the rewind offset with the ring drained: its next record rewinds.
    for (let k = 0; k < 300; k++) expect(write(w, slot++, 'y'.repeat(280))).toBe(true);
    w.publish();
    expect(claimAll(r)).toHaveLength(300);
    // The pad counts as used until a reader passes it, so the room is the ~90 KiB below it (the
    // pool queues what does not fit on the main thread, and places it as workers take tasks).
    for (let round = 0; round < 3; round++) {
      const first = slot;
      while (write(w, slot, 'z'.repeat(1000))) slot++;
      w.publish();
      expect((slot - first) * 1024).toBeGreaterThan(32 * 1024);
      expect(claimAll(r)).toEqual(Array.from({ length: slot - first }, (_, i) => first + i));
    }
  });
});
