// A key the observe layer does not take was ignored without a word: `serveMetrics({ Port: 0 })` bound
// port 9464, `register(breaker, { guard: ['pool'] })` guarded nothing, `new PatternRegistry({
// protective: { openBreaker: 2 } })` refused with a message about openBreakers being undefined. Such
// a key is now InvalidArgumentError naming it, the keys taken, and the one it is a slip of.
import { CircuitBreaker, InvalidArgumentError, PatternRegistry, serveMetrics } from 'skein';
import { describe, expect, it } from 'vitest';
import { failure } from '../fixtures/failure.js';

describe('unknown option keys of the observe layer', () => {
  it.each([
    ['PatternRegistry', () => new PatternRegistry({ protectve: { openBreakers: 1 } } as never), /^PatternRegistry options take only 'protective', got 'protectve' \(did you mean 'protective'\?\)$/],
    ['protective', () => new PatternRegistry({ protective: { openBreaker: 1 } } as never), /^PatternRegistry protective options take only 'openBreakers', 'keep', got 'openBreaker' \(did you mean 'openBreakers'\?\)$/],
    ['register', () => new PatternRegistry().register(new CircuitBreaker(), { guard: ['pool'] } as never), /^register options take only 'name', 'guards', got 'guard' \(did you mean 'guards'\?\)$/],
    ['shutdownAll', () => new PatternRegistry().shutdownAll({ timout: 5 } as never), /^shutdownAll options take only 'timeout', got 'timout' \(did you mean 'timeout'\?\)$/],
    ['serveMetrics', () => serveMetrics({ Port: 0 } as never), /^serveMetrics options take only 'port', 'host', 'objects', got 'Port' \(did you mean 'port'\?\)$/],
  ])('%s', async (_name, call, message) => {
    const err = await failure(call);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err.message).toMatch(message);
  });

  it('every documented key is taken, and a key left undefined is no mistake', async () => {
    const r = new PatternRegistry({ protective: { openBreakers: 1, keep: 0.5, extra: undefined } as never });
    const breaker = new CircuitBreaker();
    expect(r.register(breaker, { name: 'cb', guards: [], extra: undefined } as never)).toBe('cb');
    const server = await serveMetrics({ port: 0, host: '127.0.0.1', objects: { cb: breaker } });
    await server.close();
    expect(await r.shutdownAll({ timeout: 1000 })).toEqual({ closed: ['cb'], timedOut: [], failed: [] });
  });
});
