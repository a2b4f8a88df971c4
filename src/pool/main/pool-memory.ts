/**
 * The memory a pool's main side and its workers share (the control block and the times, laid out
 * in shared/layout.ts), with the main thread's two tables beside it: the slot table (tasks handed
 * to workers) and the queue (tasks waiting for room). Settlement, dispatch and the worker
 * lifecycle each get this one object; none of them owns it, and none reassigns its fields.
 * Internal to the pool (not exported from the package root).
 */
import { type Layout, layoutFor, type SlotState, W_STRIDE, WORKERS_AT } from '../shared/index.js';
import { SlotTable } from './slot-table.js';
import { TaskQueue } from './task-queue.js';

export class PoolMemory {
  readonly L: Layout;
  readonly ctlSab: SharedArrayBuffer;
  readonly timesSab: SharedArrayBuffer;
  readonly ctl: Int32Array;
  readonly times: Float64Array;
  readonly slots: SlotTable;
  readonly queue = new TaskQueue();

  constructor(slots: number) {
    this.L = layoutFor(slots);
    this.ctlSab = new SharedArrayBuffer(this.L.ctlInts * 4);
    this.timesSab = new SharedArrayBuffer(this.L.timesDoubles * 8);
    this.ctl = new Int32Array(this.ctlSab);
    this.times = new Float64Array(this.timesSab);
    this.slots = new SlotTable(slots);
  }

  /** A word of worker index `index`'s block (`W_STATE`, `W_INFLIGHT`, ...). */
  workerWord(index: number, field: number): number {
    return Atomics.load(this.ctl, WORKERS_AT + index * W_STRIDE + field);
  }

  setWorkerWord(index: number, field: number, value: number): void {
    Atomics.store(this.ctl, WORKERS_AT + index * W_STRIDE + field, value);
  }

  slotState(s: number): SlotState {
    return Atomics.load(this.ctl, this.L.slotState + s);
  }

  setSlotState(s: number, st: SlotState): void {
    Atomics.store(this.ctl, this.L.slotState + s, st);
  }

  /** Worker index that claimed slot `s` (-1: none yet). */
  slotOwner(s: number): number {
    return Atomics.load(this.ctl, this.L.slotOwner + s);
  }

  setSlotOwner(s: number, index: number): void {
    Atomics.store(this.ctl, this.L.slotOwner + s, index);
  }

  /** Generation of the task now in slot `s` (SLOT_GEN in shared/layout.ts): with `s`, it names the task. */
  slotGen(s: number): number {
    return Atomics.load(this.ctl, this.L.slotGen + s);
  }

  /** A new task goes into slot `s`: its generation is bumped, before the state store that publishes it. */
  nextSlotGen(s: number): void {
    const at = this.L.slotGen + s;
    Atomics.store(this.ctl, at, (Atomics.load(this.ctl, at) + 1) | 0);
  }
}
