// A RetryPolicy whose own callback (retryIf, a backoff function) throws: the retries end there,
// onGiveUp is told once, and the caller gets the callback's error with the try's error reachable.
import { type GiveUpEvent, InvalidArgumentError, RetryPolicy } from 'skein';
import { describe, expect, it, vi } from 'vitest';

/** Runs `policy` on a fn that always fails with a fresh error; what it threw, the tries, the events. */
async function run(policy: RetryPolicy): Promise<{ err: unknown; tries: Error[]; gaveUp: GiveUpEvent[] }> {
  const tries: Error[] = [];
  const gaveUp: GiveUpEvent[] = [];
  policy.onGiveUp((e) => gaveUp.push(e));
  const err = await policy
    .execute(({ attempt }) => {
      const e = new Error(`try ${attempt}`);
      tries.push(e);
      throw e;
    })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  return { err, tries, gaveUp };
}

describe('RetryPolicy: a callback of its own that throws', () => {
  it('retryIf throws: no further try, onGiveUp once (reason retryIf), its error rethrown with the try as cause', async () => {
    const bug = new TypeError('retryIf bug');
    const retryIf = vi.fn((_err: unknown, attempt: number) => {
      if (attempt === 2) throw bug;
      return true;
    });
    const { err, tries, gaveUp } = await run(new RetryPolicy({ maxAttempts: 10, initialDelay: 1, retryIf }));
    expect(tries).toHaveLength(2);
    expect(retryIf).toHaveBeenCalledTimes(2);
    expect(err).toBe(bug);
    expect((err as Error).cause).toBe(tries[1]);
    expect(Object.keys(err as object)).not.toContain('cause'); // as `new Error(m, { cause })` makes it
    expect(gaveUp).toEqual([{ attempts: 2, error: tries[1], reason: 'retryIf', callbackError: bug }]);
  });

  it("retryIf throws an error that has a cause of its own: that chain is kept, the try's error is in the event", async () => {
    const mine = new Error('mine');
    const bug = new Error('retryIf bug', { cause: mine });
    const { err, tries, gaveUp } = await run(
      new RetryPolicy({
        maxAttempts: 3,
        initialDelay: 1,
        retryIf: () => {
          throw bug;
        },
      }),
    );
    expect(tries).toHaveLength(1);
    expect(err).toBe(bug);
    expect(bug.cause).toBe(mine);
    expect(gaveUp).toEqual([{ attempts: 1, error: tries[0], reason: 'retryIf', callbackError: bug }]);
  });

  it('retryIf throws a value that is not an object: that value is rethrown, the event has both', async () => {
    const { err, tries, gaveUp } = await run(
      new RetryPolicy({
        maxAttempts: 3,
        initialDelay: 1,
        retryIf: () => {
          throw 'nope';
        },
      }),
    );
    expect(err).toBe('nope');
    expect(gaveUp).toEqual([{ attempts: 1, error: tries[0], reason: 'retryIf', callbackError: 'nope' }]);
  });

  it('a backoff function that throws ends the retries the same way (reason backoff)', async () => {
    const bug = new Error('backoff bug');
    const backoff = vi.fn((attempt: number) => {
      if (attempt === 2) throw bug;
      return 1;
    });
    const { err, tries, gaveUp } = await run(new RetryPolicy({ maxAttempts: 10, backoff }));
    expect(tries).toHaveLength(2);
    expect(err).toBe(bug);
    expect((err as Error).cause).toBe(tries[1]);
    expect(gaveUp).toEqual([{ attempts: 2, error: tries[1], reason: 'backoff', callbackError: bug }]);
  });

  it('a backoff function that returns no valid delay: InvalidArgumentError with the try as cause', async () => {
    const { err, tries, gaveUp } = await run(new RetryPolicy({ maxAttempts: 10, backoff: () => Number.NaN }));
    expect(tries).toHaveLength(1);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).cause).toBe(tries[0]);
    expect(gaveUp).toEqual([{ attempts: 1, error: tries[0], reason: 'backoff', callbackError: err }]);
  });

  it('a refusal by retryIf (no throw) still rethrows the try itself and has no callbackError', async () => {
    const { err, tries, gaveUp } = await run(new RetryPolicy({ maxAttempts: 3, retryIf: () => false }));
    expect(err).toBe(tries[0]);
    expect((err as Error).cause).toBeUndefined();
    expect(gaveUp).toEqual([{ attempts: 1, error: tries[0], reason: 'retryIf' }]);
    expect('callbackError' in gaveUp[0]).toBe(false);
  });
});
