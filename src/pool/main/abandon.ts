/**
 * What a pool with no worker left to run anything frees: a close that stopped its workers, or a
 * pool that gave up on them (its module cannot load, its setup fails, its workers die or hang while
 * booting). Its callers were answered already (PoolClosedError, the pool's boot error); what they
 * left in use (their slots, records in the rings nobody will claim) would keep the pool reading as
 * busy and its result loop holding the process alive for ever.
 * Internal to the pool (not exported from the package root).
 */
import { SlotState } from '../shared/index.js';
import type { PoolMemory } from './pool-memory.js';
import type { Settler } from './ports.js';

/**
 * Frees every slot still in use (failing with `err` any caller not yet answered), then wakes the
 * idle waiters and ends the result loop. Only once no worker is alive: none may touch a slot again.
 */
export function releaseAbandoned(mem: PoolMemory, settler: Settler, err: unknown): void {
  for (let s = 0; s < mem.slots.size; s++) {
    if (mem.slotState(s) !== SlotState.Free) settler.finishSlot(s, false, err);
  }
  settler.notifyIdle();
  settler.endResultLoopIfIdle();
}
