// pool.exec (self-contained functions) and pool.run (submit's piscina name) through real workers.
import { ClosureVariableError, FixedWorkerPool, InvalidArgumentError } from 'skein';
import { afterAll, describe, expect, it } from 'vitest';
import { rejection, TASKS, within } from '../fixtures/pool-helpers.js';

const pool = new FixedWorkerPool(2, { filename: TASKS });
afterAll(async () => {
  await within(pool.close({ force: true }), 5000, 'close');
});

describe('pool.exec', () => {
  it('runs a self-contained function with its arguments in a worker', async () => {
    expect(await pool.exec((a: number, b: number) => a * b, 6, 7)).toBe(42);
    // The worker's own globals are there (the task module's `whoami` export is not).
    expect(await pool.exec(() => typeof structuredClone)).toBe('function');
    expect(await pool.exec(async (x: string) => `${await Promise.resolve(x)}!`, 'hi')).toBe('hi!');
  });

  it('compiles a function written as a method or a named function declaration', async () => {
    const o = {
      twice(x: number) {
        return 2 * x;
      },
    };
    function plusOne(x: number): number {
      return x + 1;
    }
    expect(await pool.exec(o.twice, 4)).toBe(8);
    expect(await pool.exec(plusOne, 4)).toBe(5);
  });

  it('rejects with ClosureVariableError naming a variable the function closed over', async () => {
    const secret = 7;
    const err = await rejection(pool.exec(() => secret * 2));
    expect(err).toBeInstanceOf(ClosureVariableError);
    expect((err as ClosureVariableError).variable).toBe('secret');
    expect(err.message).toMatch(/closed over.*pass 'secret' as an argument/);
    const err2 = await rejection(pool.exec(async () => {
      await Promise.resolve();
      return secret;
    }));
    expect(err2).toBeInstanceOf(ClosureVariableError);
  });

  it("runs functions compiled by tsx/esbuild with keepNames, whose nested functions call __name", async () => {
    // What tsx (esbuild keepNames) makes of `(x) => { const f = (z) => z + 1; function g(y) {...} ... }`:
    // __name is a helper of the caller's module, absent in the worker.
    const fn = new Function(
      'return (x) => { const f = __name((z) => z + 1, "f"); function g(y) { return y * 2; } __name(g, "g"); return [g(f(x)), f.name, g.name]; }',
    )() as (x: number) => [number, string, string];
    expect(await pool.exec(fn, 4)).toEqual([10, 'f', 'g']);
    // A method named `class` is a method, not a class.
    expect(await pool.exec({ class(x: number) { return x + 1; } }.class, 1)).toBe(2);
  });

  it("keeps the function's own errors", async () => {
    const err = await rejection(pool.exec(() => {
      throw new RangeError('out of range');
    }));
    expect(err).toBeInstanceOf(RangeError);
    expect(err.message).toBe('out of range');
  });

  it('rejects functions without source at the call site', async () => {
    expect(await rejection(pool.exec(Math.max as () => number))).toBeInstanceOf(InvalidArgumentError);
    expect(await rejection(pool.exec((() => 1).bind(null)))).toBeInstanceOf(InvalidArgumentError);
    expect(await rejection(pool.exec(class {} as unknown as () => void))).toBeInstanceOf(InvalidArgumentError);
  });
});

describe('pool.run', () => {
  it('is submit under piscina name', async () => {
    expect(await pool.run(5)).toBe(await pool.submit(5));
  });
});
