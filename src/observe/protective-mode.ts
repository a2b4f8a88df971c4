/**
 * Protective mode of a PatternRegistry (pattern-registry.ts): when enough registered breakers are
 * open at once, what they guard is lowered (a pool capped, a pipeline stage's concurrency cut) and
 * restored when fewer are open. This file: its options, its event, and the lowering of one target.
 */
import type { Pipeline } from '../flow/index.js';
import { type WorkerPool, workerLimit } from '../pool/index.js';

/**
 * Protective mode: when `openBreakers` registered breakers are open at once, the pools they guard
 * shrink and the pipeline stages they guard run fewer items at once, until fewer are open. While it
 * is on, what a breaker that opens guards is lowered too, and what only closed breakers guard is
 * restored as they close; everything still lowered is restored when the mode turns off.
 */
export interface ProtectiveOptions {
  /** How many open breakers at once turn it on. */
  openBreakers: number;
  /**
   * Fraction kept while it is on (at least one): of a pool's maxWorkers (the pool is capped there:
   * workers above leave once idle, and it does not grow past it), of a stage's concurrency. Default 0.5.
   */
  keep?: number;
}

/**
 * A `protective` event: the mode turned on or off, or, while it is on, lowered what a breaker that
 * opened guards ('lowered') or restored what no open breaker guards any more, or what was
 * unregistered ('restored'); and what it changed. `shutdownAll` turns it off before it closes
 * anything, restoring nothing (an 'off' event with empty `pools` and `stages`).
 */
export interface ProtectiveEvent {
  state: 'on' | 'lowered' | 'restored' | 'off';
  /** Names of the breakers open when it happened. */
  open: string[];
  /** Per guarded pool: its workers before, and the number it moves to (retired ones leave once idle; restored ones start as they can). */
  pools: { name: string; from: number; to: number }[];
  /** Per guarded pipeline stage (`'<pipeline>/<stage>'`): its concurrency before and after. */
  stages: { name: string; from: number; to: number }[];
}

export interface Change {
  name: string;
  from: number;
  to: number;
}

/** What protective mode lowered, and how to undo it. */
export interface Lowered {
  change: Change;
  /** The pool or pipeline it lowered (a restore does not depend on the name still being registered). */
  target: object;
  /** Its size (a pool) or concurrency (a stage) now. */
  current: () => number;
  /** Undoes the change; returns the size or concurrency it moves to. */
  restore: () => number;
}

const OPEN_STATES: readonly string[] = ['open', 'half-open', 'forced-open'];

/** Whether a breaker in `state` counts as open (half-open: still probing). */
export function isOpen(state: string): boolean {
  return OPEN_STATES.includes(state);
}

/** Caps `pool` at `keep` x its maxWorkers (at least one); restoring lifts the cap. */
export function lowerPool(name: string, pool: WorkerPool, keep: number): Lowered {
  const limit = workerLimit(pool);
  const from = limit.size;
  const to = limit.set(Math.max(1, Math.floor(limit.maxWorkers * keep)));
  return { change: { name, from, to }, target: pool, current: () => limit.size, restore: () => limit.set(undefined) };
}

/** Cuts stage `stage` of `pipeline` to `keep` x its concurrency now (at least one); restoring puts it back. */
export function lowerStage(name: string, pipeline: Pipeline<never, unknown>, stage: string, keep: number): Lowered {
  const from = pipeline.stageConcurrency(stage).current;
  const to = Math.max(1, Math.floor(from * keep));
  pipeline.setStageConcurrency(stage, to);
  const current = (): number => pipeline.stageConcurrency(stage).current;
  const restore = (): number => {
    pipeline.setStageConcurrency(stage, from);
    return current();
  };
  return { change: { name, from, to }, target: pipeline, current, restore };
}
