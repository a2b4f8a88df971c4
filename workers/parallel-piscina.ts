/**
 * The hand-written piscina version of the data-parallel benchmark's loop (`bench/parallel.ts`): the
 * caller copies a chunk out of its array, transfers the copy here, and copies the answer back.
 */
import { move } from 'piscina';
import { kernel, type KernelArg } from './parallel-kernels.js';

/** Runs `kernel` over a transferred chunk holding indices o.base.., and moves the chunk back. */
export default function piscinaChunk(t: { buf: ArrayBuffer; o: KernelArg }): unknown {
  const a = new Float64Array(t.buf);
  kernel(t.o.base, t.o.base + a.length, a, t.o);
  return move(t.buf);
}
