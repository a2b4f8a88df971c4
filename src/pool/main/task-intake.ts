/**
 * A task's way in: options checked, input encoded (so an uncloneable value fails at the caller),
 * `maxQueue` enforced, then handed to the workers at once or queued by priority.
 * Internal to the pool (not exported from the package root).
 */

import { type Encoded, encode, Tag } from '../../memory/codec.js';
import type { TransferListItem } from 'node:worker_threads';
import { AbortError } from '../../memory/errors.js';
import { abortableExtras, watchAbort } from './abort-watch.js';
import { newSubmitEncoded } from './encoded-input.js';
import { PoolClosedError, QueueFullError } from '../errors.js';
import { W_INFLIGHT } from '../shared/index.js';
import { checkSubmit, type SubmitOptions } from './options.js';
import type { PoolCore } from './pool-core.js';
import { settle } from './settlement.js';
import { type Aux, DEFAULT_PRIORITY, type Target, type TaskExtras } from './task-queue.js';

/** Queues one task whose outcome goes to `target`/`aux` (a resolver pair or a batch collector). */
export function intake(
  core: PoolCore,
  input: unknown,
  opts: SubmitOptions | undefined,
  target: Target,
  aux: Aux,
  /** False for map(), which waits for room itself (a worker's counters move between its check and this one). */
  checkRoom = true,
): void {
  const { dispatch, workers } = core;
  if (workers.closing || workers.broken) {
    settle(target, aux, false, workers.broken ?? new PoolClosedError('the pool is closed'));
    return;
  }
  let priority = DEFAULT_PRIORITY;
  let fnId = 0;
  let extras: TaskExtras | undefined;
  let stored = input;
  try {
    const timeout = opts?.timeout ?? core.o.taskTimeout;
    if (opts !== undefined) {
      priority = checkSubmit(opts);
      if (opts.fn !== undefined) fnId = dispatch.fnId(opts.fn);
      if (opts.signal?.aborted) {
        throw new AbortError('the task was aborted before it was queued', { cause: opts.signal.reason });
      }
    }
    if (opts?.signal) {
      extras = abortableExtras(core, priority, opts.signal, timeout, opts.transfer);
    } else if (opts?.transfer || timeout > 0) {
      extras = { timeout, transfer: opts?.transfer };
    }
    if (checkRoom && queueFull(core)) {
      throw new QueueFullError(
        `the pool's queue is full (maxQueue ${core.o.maxQueue}); await pool.drain() for room`,
      );
    }
    // Objects are encoded now, so an uncloneable input fails here, at the caller (a function or a
    // symbol too, so that its error names the task input).
    if ((typeof input === 'object' && input !== null) || typeof input === 'function' || typeof input === 'symbol') {
      if (!extras?.transfer) stored = ownBytes(encode(input, newSubmitEncoded(), 'task input'));
      else {
        const moved = movedIn(input, extras.transfer, dispatch.maxPayload(priority));
        if (moved) {
          stored = moved;
          extras.transfer = undefined;
          if (!extras.ticket && !((extras.timeout ?? 0) > 0)) extras = undefined; // nothing left to carry
        }
      }
    }
  } catch (err) {
    settle(target, aux, false, err);
    return;
  }
  if (extras?.signal) watchAbort(extras);
  const at = dispatch.tick();
  if (core.mem.queue.length === 0 && dispatch.place(priority, stored, fnId, target, aux, extras, at)) {
    dispatch.scheduleFlush();
    return;
  }
  const seq = core.mem.queue.push(priority, stored, fnId, target, aux, extras, at);
  if (extras?.ticket) extras.ticket.seq = seq;
  core.settlement.ensureResultLoop(); // it keeps the process alive while anything waits, placed or not
  dispatch.scheduleFlush();
}

/**
 * `e` with bytes of its own: a Uint8Array, Buffer or ArrayBuffer input is encoded as the caller's
 * own memory, and the task may wait (queue, a worker's room, a resend after a crash) while the
 * caller refills it; it must run on the bytes as they were at submit, as structured clone gives.
 */
function ownBytes(e: Encoded): Encoded {
  if (isCallerBytes(e)) e.bytes = Uint8Array.prototype.slice.call(e.bytes); // TypedArray#slice copies (Buffer#slice is a view)
  return e;
}

/** Whether `e` is encoded as the caller's own memory: a Uint8Array, Buffer or ArrayBuffer input. */
function isCallerBytes(e: Encoded): e is Encoded & { bytes: Uint8Array } {
  return e.bytes !== null && (e.tag === Tag.Bytes || e.tag === Tag.Buffer || e.tag === Tag.ArrayBuffer);
}

/**
 * A Uint8Array, Buffer or ArrayBuffer input whose transfer list is its own buffer, and no more, and
 * which fits the rings: its buffer moves to the pool (the caller's is detached, as postMessage
 * would leave it) and it rides the rings as its bytes, as an input without a transfer list does,
 * only not copied. The pool then owns the bytes, so a worker's crash can resend it. Undefined
 * otherwise: it travels raw by postMessage with its transfer list (large inputs move zero-copy so).
 * Called last at intake, once nothing can refuse the task: a refused one keeps its buffer.
 */
function movedIn(input: unknown, transfer: readonly TransferListItem[], max: number): Encoded | undefined {
  if (transfer.length !== 1) return undefined;
  const buf = input instanceof ArrayBuffer ? input : input instanceof Uint8Array ? input.buffer : undefined;
  if (buf === undefined || buf !== transfer[0] || !(buf instanceof ArrayBuffer)) return undefined;
  const e = encode(input, newSubmitEncoded(), 'task input');
  if (!isCallerBytes(e) || e.bytes.byteLength > max) return undefined;
  const { byteOffset, byteLength } = e.bytes;
  let own: ArrayBuffer;
  try {
    own = structuredClone(buf, { transfer: [buf] }); // moves the memory, copies nothing
  } catch {
    return undefined; // not transferable (a slice of Node's Buffer pool): as postMessage would say
  }
  e.bytes = new Uint8Array(own, byteOffset, byteLength);
  return e;
}

/**
 * Whether a new task would overflow `maxQueue`: tasks waiting beyond what idle workers can take now,
 * that is `waiting >= maxQueue + free` with `free = max(0, maxWorkers * concurrency - running)`.
 * The tasks running are a sum over the workers' words, which only the workers write (a count of
 * their own kept by the main thread would lag a task's end by its result's trip back, and a
 * shared one would be a line every worker writes twice per task); so it is summed only when it
 * decides: not while fewer than `maxQueue` wait (room whoever runs), nor once `maxQueue` plus every
 * worker's room wait (full whoever runs), and then only until it has decided. Submits to a pool
 * far from its limit, or over it, cost O(1); before, every submit summed every worker's word.
 */
export function queueFull(core: PoolCore): boolean {
  const { o, mem } = core;
  if (o.maxQueue === Infinity) return false;
  const waiting = mem.queue.length + core.dispatch.ringBacklog();
  if (waiting < o.maxQueue) return false;
  // Room needed for one more: free >= need. free is at most `capacity`, and below need once
  // running > capacity - need.
  const need = waiting - o.maxQueue + 1;
  const capacity = core.workers.maxWorkers * o.concurrency;
  const enough = capacity - need;
  if (enough < 0) return true;
  let running = 0;
  for (const e of core.workers.entries) {
    if (e && (running += mem.workerWord(e.index, W_INFLIGHT)) > enough) return true;
  }
  return false;
}
