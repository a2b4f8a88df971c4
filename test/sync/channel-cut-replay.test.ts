// Deterministic replays of channel interleavings around cut streams (byte-ring.ts invariants 4-6).
// Several ChannelCore views over one buffer stand in for threads: each keeps its own caches of
// HEAD and TAIL, as a thread does, and the steps run in exactly the order a race would take.
import { ChannelClosedError, ChannelCore, ChannelStreamCutError, channelRing as R, encode, newEncoded, ownEncoded, PUT_OK, PUT_STREAM, setStepHook, Step, TAKE_EMPTY, TimeoutError } from 'skein/internal';
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

  // A stream's sender writes its LAST chunk, checks that it still holds PLOCK, and stands still
  // before it publishes the chunk: a waiting thread takes it for dead and cuts it (invariant 4).
  // Whatever comes next, its send must either report success with its message delivered once, or
  // report the cut with its message not delivered (and the channel must stay usable).
  for (const then of ['the receiver drops its part, then receives', 'the receiver drops its part, another producer sends', 'the receiver looks only after the sender resumed']) {
    it(`a stream cut after its last check before publishing its LAST chunk: the send fails or delivers, never both or neither (${then})`, () => {
      const { cores } = views(3);
      const [S, X, P] = cores; // a stream sender, a receiver, a producer of whole messages
      const c = X.c;
      const big = 's'.repeat(5000); // a FIRST chunk that fills the ring, then one LAST chunk
      expect(S.producer.tryPut(enc(big), true)).toBe(PUT_STREAM);
      const send = S.producer.out!.steps();
      expect(send.next().done).toBe(false); // the ring is full: S waits for room
      let recv = X.consumer.takeSteps<string>();
      expect(recv.next().done).toBe(false); // X reads the FIRST chunk (holding CLOCK) and waits for more
      let other: string | undefined;
      let ran = 0;
      setStepHook((point) => {
        if (point !== Step.ChannelStreamPublish || ran++ > 0) return;
        // The LAST chunk is written at TAIL, not published: the ring looks empty. A waiting thread
        // saw PLOCK held and streaming with TAIL unchanged for STREAM_STALL_MS, and cuts.
        const w = Atomics.load(c, R.PLOCK);
        expect(w).toBe(R.HELD | R.STREAMING);
        expect(Atomics.compareExchange(c, R.PLOCK, w, R.CUT)).toBe(w);
        if (then === 'the receiver looks only after the sender resumed') return;
        // X finds no more chunks and PLOCK not held: it drops its part and clears CUT (invariant 5).
        expect(recv.next().done).toBe(false); // dropped; X now waits for the next message
        expect(Atomics.load(c, R.PLOCK)).toBe(0);
        if (then === 'the receiver drops its part, another producer sends') {
          // The lock is free: P sends a message as large as S's LAST chunk, at the same TAIL.
          const at = (Atomics.load(c, R.TAIL) & X.r.mask) >> 2;
          const len = X.r.i32[at];
          other = 'p'.repeat(len);
          expect(P.producer.tryPut(enc(other), false)).toBe(PUT_OK);
          expect(X.r.i32[at]).toBe(len);
        }
      });
      let sent: unknown = 'sent';
      try {
        send.next();
      } catch (err) {
        sent = err;
      } finally {
        setStepHook(undefined);
      }
      expect(ran).toBe(1);
      // Everything X receives now, until it waits.
      const got: string[] = [];
      for (let r = recv.next(); r.done; r = recv.next()) {
        expect(r.value.ok).toBe(true);
        if (r.value.ok) got.push(r.value.value);
        recv = X.consumer.takeSteps<string>();
      }
      void recv.return(undefined as never);
      if (sent === 'sent') {
        expect(got.filter((v) => v === big)).toHaveLength(1);
      } else {
        expect(sent).toBeInstanceOf(ChannelStreamCutError);
        expect(got).not.toContain(big);
      }
      expect(got.filter((v) => v !== big)).toEqual(other === undefined ? [] : [other]);
      expect(Atomics.load(c, R.PLOCK)).toBe(0);
      expect(Atomics.load(c, R.HEAD)).toBe(Atomics.load(c, R.TAIL));
      expect(X.length).toBe(0);
      // The channel goes on.
      expect(P.producer.tryPut(enc('next'), false)).toBe(PUT_OK);
      expect(X.consumer.tryTake(true)).toEqual({ ok: true, value: 'next' });
    });
  }
});
