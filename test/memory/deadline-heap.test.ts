// DeadlineHeap (src/memory/deadline-heap.ts): the earliest deadline first, and any item removable
// by its own index. Checked against a sorted list under random pushes, removals and pops.
import { DeadlineHeap } from 'skein/internal';
import { describe, expect, it } from 'vitest';

interface Item {
  id: number;
  deadline: number;
  heapAt: number;
}

/** A small deterministic generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('DeadlineHeap', () => {
  it('pops in deadline order and removes any item, as a sorted list would', () => {
    for (let seed = 1; seed <= 8; seed++) {
      const r = rng(seed);
      const h = new DeadlineHeap<Item>();
      const ref: Item[] = [];
      let id = 0;
      for (let step = 0; step < 3000; step++) {
        const op = r();
        if (op < 0.5) {
          const x = { id: id++, deadline: Math.floor(r() * 200), heapAt: -1 };
          h.push(x);
          ref.push(x);
        } else if (op < 0.75 && ref.length > 0) {
          const x = ref.splice(Math.floor(r() * ref.length), 1)[0];
          h.remove(x);
          expect(x.heapAt).toBe(-1);
          h.remove(x); // a second removal is a no-op
        } else {
          const min = ref.reduce((m, x) => Math.min(m, x.deadline), Number.POSITIVE_INFINITY);
          expect(h.next).toBe(min);
          const x = h.pop();
          if (ref.length === 0) {
            expect(x).toBeUndefined();
            continue;
          }
          expect(x!.deadline).toBe(min);
          expect(x!.heapAt).toBe(-1);
          ref.splice(ref.indexOf(x!), 1);
        }
        expect(h.size).toBe(ref.length);
      }
      const rest: number[] = [];
      for (let x = h.pop(); x !== undefined; x = h.pop()) rest.push(x.deadline);
      expect(rest).toEqual(ref.map((x) => x.deadline).sort((a, b) => a - b));
    }
  });
});
