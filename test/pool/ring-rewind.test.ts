// Task rings rewind (ring.ts REWIND): a ring drained as fast as it is filled keeps its records in
// its first bytes instead of cycling through all of it (fewer resident pages, warm cache lines),
// while a ring being filled faster than it drains still gets all of its room.
import { createRing, encode, newEncoded, payloadLength, setStepHook, Step, TaskRingReader, TaskRingWriter } from 'skein/internal';
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

  it('a claimer stalled right after claiming a run that starts at a rewind pad still reads its record (claim C5, C6)', () => {
    const sab = createRing(SIZE);
    const ctl = new Int32Array(sab, 0, 32);
    const w = new TaskRingWriter(sab);
    const x = new TaskRingReader(sab);
    let slot = 0;
    // Drained in step until the writer is past the rewind offset.
    while ((Atomics.load(ctl, 16) & (SIZE - 1)) < 64 * 1024) {
      expect(write(w, slot++, 'y'.repeat(280))).toBe(true);
      w.publish();
      claimAll(x);
    }
    // This record rewinds: a pad at HEAD, then the record at the ring's start.
    expect(write(w, 777, 'after the pad')).toBe(true);
    w.publish();
    // X claims [pad, record] and is descheduled after its HEAD CAS; meanwhile the main thread keeps
    // placing tasks. The pad's header must survive until X has stepped over it.
    let placed = 0;
    setStepHook((point) => {
      if (point !== Step.RingClaimCopy || placed > 0) return;
      while (write(w, 1_000_000 + placed, 'z'.repeat(100))) placed++;
      w.publish();
    });
    const got: [number, unknown][] = [];
    try {
      x.claim(
        1,
        (s, _fn, v) => {
          got.push([s, v]);
          if (got.length > 3) throw new Error('the claimer ran past its run (read a reused pad)');
        },
        () => {},
        () => {},
      );
    } finally {
      setStepHook(undefined);
    }
    expect(got).toEqual([[777, 'after the pad']]);
    // Held back by the unread pad, the writer placed only what fits below it; all of it arrives.
    expect(placed).toBeGreaterThan(0);
    expect(claimAll(x)).toEqual(Array.from({ length: placed }, (_, i) => 1_000_000 + i));
  });
});
