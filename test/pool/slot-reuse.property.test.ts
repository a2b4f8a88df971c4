// Property: an abort reaches exactly the task it names, however late it arrives (issue 17). A
// worker's TaskControls is driven through random schedules of one worker's life: tasks start in
// slots that the main thread reuses at once, read ctx.signal early or late, end, and abort
// messages (slot, generation) are delivered in any order, long after their task may have ended.
// Model: a task's signal is aborted iff an abort naming it was delivered while it ran; taskAborted
// (which builtin tasks ask instead of reading ctx.signal) always agrees with it.
import fc from 'fast-check';
import { TaskControls, taskAborted } from 'skein/internal';
import { describe, expect, it } from 'vitest';

const SLOTS = 3;

type Op =
  | { kind: 'start'; slot: number }
  | { kind: 'read'; slot: number }
  | { kind: 'peek'; slot: number }
  | { kind: 'send'; slot: number }
  | { kind: 'deliver'; pick: number }
  | { kind: 'end'; slot: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('start' as const), slot: fc.nat(SLOTS - 1) }),
  fc.record({ kind: fc.constant('read' as const), slot: fc.nat(SLOTS - 1) }),
  fc.record({ kind: fc.constant('peek' as const), slot: fc.nat(SLOTS - 1) }),
  fc.record({ kind: fc.constant('send' as const), slot: fc.nat(SLOTS - 1) }),
  fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat(7) }),
  fc.record({ kind: fc.constant('end' as const), slot: fc.nat(SLOTS - 1) }),
);

interface Task {
  gen: number;
  ctx: ReturnType<TaskControls['context']>;
  abortedInModel: boolean;
}

describe('TaskControls: aborts name a task, not a slot', () => {
  it('a task sees its signal aborted iff an abort naming it arrived while it ran', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const controls = new TaskControls(1, SLOTS);
        const gens = new Int32Array(SLOTS); // the main thread's SLOT_GEN
        const running: (Task | undefined)[] = new Array(SLOTS);
        const all: Task[] = [];
        const inbox: { slot: number; gen: number }[] = [];
        const check = (t: Task): void => {
          expect(t.ctx.signal.aborted).toBe(t.abortedInModel);
        };
        for (const o of ops) {
          if (o.kind === 'start') {
            if (running[o.slot]) continue; // the slot is busy: the main thread cannot reuse it yet
            gens[o.slot] = (gens[o.slot] + 1) | 0;
            controls.begin(o.slot, gens[o.slot]);
            const t: Task = { gen: gens[o.slot], ctx: controls.context(o.slot), abortedInModel: false };
            running[o.slot] = t;
            all.push(t);
          } else if (o.kind === 'read') {
            const t = running[o.slot];
            if (t) check(t);
          } else if (o.kind === 'peek') {
            const t = running[o.slot];
            if (t) expect(taskAborted(t.ctx)).toBe(t.abortedInModel);
          } else if (o.kind === 'send') {
            // The main thread aborts the task now in the slot (it may end before the message lands).
            const t = running[o.slot];
            if (t) inbox.push({ slot: o.slot, gen: t.gen });
          } else if (o.kind === 'deliver') {
            if (inbox.length === 0) continue;
            const [m] = inbox.splice(o.pick % inbox.length, 1);
            const t = running[m.slot];
            if (t && t.gen === m.gen) t.abortedInModel = true;
            controls.abort(m.slot, m.gen);
          } else {
            const t = running[o.slot];
            if (!t) continue;
            check(t); // read at its end, as a task that checks its signal last does
            controls.release(o.slot);
            running[o.slot] = undefined;
          }
        }
        for (const t of running) if (t) check(t);
        // A context kept past its task's end never aborts (its slot now belongs to another task).
        for (const t of all) {
          if (running.includes(t)) continue;
          expect(taskAborted(t.ctx)).toBe(false);
          expect(t.ctx.signal.aborted).toBe(false);
        }
      }),
      { numRuns: 2000 },
    );
  });

  // On Node 20 an AbortController costs ~3.6 µs and outlives young-generation GCs, so a builtin that
  // asks once per item whether its task was aborted must not make one (worker-context.ts).
  it('taskAborted makes no AbortController, and an abort before ctx.signal is read still shows', () => {
    const Real = globalThis.AbortController;
    let made = 0;
    globalThis.AbortController = class extends Real {
      constructor() {
        super();
        made++;
      }
    };
    try {
      const controls = new TaskControls(1, 1);
      controls.begin(0, 1);
      const ctx = controls.context(0);
      expect(taskAborted(ctx)).toBe(false);
      controls.abort(0, 1);
      expect(taskAborted(ctx)).toBe(true);
      expect(made).toBe(0);
      expect(ctx.signal.aborted).toBe(true); // the signal, read late, is born aborted
      expect(made).toBe(1);
      expect(taskAborted(ctx)).toBe(true);
    } finally {
      globalThis.AbortController = Real;
    }
  });
});
