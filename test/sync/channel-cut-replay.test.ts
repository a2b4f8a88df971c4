// Deterministic replays of channel interleavings around cut streams (byte-ring.ts invariants 4-6).
// Several ChannelCore views over one buffer stand in for threads: each keeps its own caches of
// HEAD and TAIL, as a thread does, and the steps run in exactly the order a race would take.
import { ChannelClosedError, ChannelCore, channelRing as R, encode, newEncoded, ownEncoded, PUT_OK, PUT_STREAM, setStepHook, Step, TAKE_EMPTY, TimeoutError } from 'skein/internal';
import { describe, expect, it } from 'vitest';

const SIZE = 4096;

function views(n: number): { sab: SharedArrayBuffer; cores: ChannelCore[] } {
  const sab = new SharedArrayBuffer(R.ringBytes(SIZE) + 4096);
  R.initRing(sab, 8, SIZE);
  const owner = {};
  return { sab, cores: Array.from({ length: n }, () => new ChannelCore(sab, 'replay', owner)) };
}

const enc = (v: unknown) => ownEncoded(encode(v, newEncoded()));

describe('Channel cut streams, replayed step by step', () => {
  it('a receiver that drops a cut stream past its cached TAIL reads the next message, not old bytes', () => {
    const { cores } = views(4);
    const [P, S, X, Q] = cores; // a producer of whole messages, a stream sender, two receivers
    const c = X.c;
    // A whole message of ~2000 bytes, then a stream whose FIRST chunk fills the free space.
    expect(P.producer.tryPut(enc('a'.repeat(1990)), false)).toBe(PUT_OK);
    expect(S.producer.tryPut(enc('x'.repeat(20_000)), true)).toBe(PUT_STREAM);
    // X takes the whole message; its cached bound on TAIL ends at the stream's FIRST chunk.
    const first = X.consumer.tryTake(false) as { ok: boolean; value: string };
    expect(first.ok && first.value.length).toBe(1990);
    // The stream writes a MORE chunk into the freed room (TAIL moves past X's bound), then times
    // out while Q holds the consumer lock, so it cannot drop its own records: it stays cut.
    const steps = S.producer.out!.steps();
    steps.next();
    Q.consumer.lock();
    expect(() => steps.throw(new TimeoutError('timed out'))).toThrow(TimeoutError);
    Q.consumer.unlock();
    expect(Atomics.load(c, R.PLOCK) & R.CUT).toBe(R.CUT);
    // X reaches the cut FIRST chunk and drops the stream: HEAD jumps to TAIL, past X's bound.
    expect(X.consumer.tryTake(false)).toBe(TAKE_EMPTY);
    expect(Atomics.load(c, R.PLOCK)).toBe(0);
    expect(Atomics.load(c, R.HEAD)).toBe(Atomics.load(c, R.TAIL));
    // The next message arrives whole, and nothing more after it.
    expect(P.producer.tryPut(enc({ p: 1, i: 1 }), false)).toBe(PUT_OK);
    expect(X.consumer.tryTake(true)).toEqual({ ok: true, value: { p: 1, i: 1 } });
    expect(X.consumer.tryTake(true)).toBe(TAKE_EMPTY);
    expect(X.length).toBe(0);
  });

  for (const resumeBy of ['writing its next chunk', 'timing out']) {
    it(`a sender cut for standing still leaves the next sender's lock alone on resuming (${resumeBy})`, () => {
      const { cores } = views(3);
      const [S, X, P] = cores;
      const c = X.c;
      expect(S.producer.tryPut(enc('y'.repeat(20_000)), true)).toBe(PUT_STREAM);
      const steps = S.producer.out!.steps();
      steps.next(); // chunks written until the ring is full; it waits for room
      // A waiting thread takes the stalled sender for dead and cuts it (StallWatch), and the cut
      // records are dropped at the next receive (no receiver had begun them).
      const w = Atomics.load(c, R.PLOCK);
      expect(w & (R.HELD | R.STREAMING)).toBe(R.HELD | R.STREAMING);
      Atomics.compareExchange(c, R.PLOCK, w, (w & ~(R.HELD | R.STREAMING)) | R.CUT);
      expect(X.consumer.tryTake(false)).toBe(TAKE_EMPTY);
      expect(Atomics.load(c, R.PLOCK)).toBe(0);
      // Another producer locks for its own message (and holds the lock, mid-copy)...
      expect(P.producer.lock()).toBe(true);
      // ...when the stalled sender resumes: it neither releases nor cuts that lock.
      if (resumeBy === 'timing out') expect(() => steps.throw(new TimeoutError('timed out'))).toThrow(TimeoutError);
      else expect(() => steps.next()).toThrow(/cut by another thread/);
      expect(Atomics.load(c, R.PLOCK)).toBe(R.HELD);
      P.producer.unlock();
      expect(Atomics.load(c, R.PLOCK)).toBe(0);
    });
  }

  it('close() while a stream waits for room cuts it, so tryRecv then reports closed instead of empty forever', () => {
    const { cores } = views(2);
    const [S, X] = cores;
    expect(S.producer.tryPut(enc('z'.repeat(20_000)), true)).toBe(PUT_STREAM);
    const steps = S.producer.out!.steps();
    steps.next(); // waits for room: no receiver has begun the stream
    X.close();
    expect(() => steps.next()).toThrow(ChannelClosedError);
    // The cut FIRST chunk no one began is dropped (by the sender itself here), so a receive sees
    // "closed and drained".
    expect(X.consumer.tryTake(false)).toEqual({ ok: false });
    expect(Atomics.load(X.c, R.PLOCK)).toBe(R.CLOSED);
    expect(X.length).toBe(0);
  });

  it('a receiver that saw the ring empty, then sees a cut, drops only the cut stream, not messages sent meanwhile', () => {
    const { cores } = views(3);
    const [P, S, X] = cores; // a producer of whole messages, a stream sender, a receiver
    const c = X.c;
    // X, holding CLOCK, finds the ring empty (TAIL == HEAD) and is preempted before it reads PLOCK.
    // Meanwhile P sends two whole messages (acknowledged), then S starts a stream, fills the ring
    // and times out: it cuts its stream, and cannot drop it itself (X holds CLOCK).
    let ran = 0;
    setStepHook((point) => {
      if (point !== Step.ChannelTakeEmpty || ran++ > 0) return;
      expect(P.producer.tryPut(enc({ p: 1, i: 1 }), false)).toBe(PUT_OK);
      expect(P.producer.tryPut(enc({ p: 1, i: 2 }), false)).toBe(PUT_OK);
      expect(S.producer.tryPut(enc('x'.repeat(20_000)), true)).toBe(PUT_STREAM);
      const steps = S.producer.out!.steps();
      steps.next(); // ring full: waits for room
      expect(() => steps.throw(new TimeoutError('timed out'))).toThrow(TimeoutError);
      expect(Atomics.load(c, R.PLOCK) & R.CUT).toBe(R.CUT);
    });
    try {
      // X resumes: sees CUT. Both whole messages must survive it.
      expect(X.consumer.tryTake(true)).toBe(TAKE_EMPTY);
    } finally {
      setStepHook(undefined);
    }
    expect(ran).toBe(1);
    expect(X.consumer.tryTake(true)).toEqual({ ok: true, value: { p: 1, i: 1 } });
    expect(X.consumer.tryTake(true)).toEqual({ ok: true, value: { p: 1, i: 2 } });
    // The cut stream's FIRST chunk, which no receiver began, is dropped; then the ring is empty.
    expect(X.consumer.tryTake(true)).toBe(TAKE_EMPTY);
    expect(Atomics.load(c, R.PLOCK)).toBe(0);
    expect(Atomics.load(c, R.HEAD)).toBe(Atomics.load(c, R.TAIL));
    expect(X.length).toBe(0);
  });
});
