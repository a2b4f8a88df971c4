// Every error class skein exports crosses threads as itself: each layer's errors.ts lists its
// classes for the error codec (registerErrorClasses), and a class added there but not to its list
// would arrive as a stand-in of the same name that fails `instanceof`. This checks the lists stay whole.
import * as internal from 'skein/internal';
import { describe, expect, it } from 'vitest';

const { errorToRecord, recordToError } = internal;

describe("skein's own error classes", () => {
  it('each comes back from its error record as its own class', () => {
    const classes = Object.entries(internal).filter(
      ([, C]) => typeof C === 'function' && (C as { prototype?: unknown }).prototype instanceof Error,
    ) as [string, new (message: string) => Error][];
    expect(classes.length).toBeGreaterThan(20);
    const strays: string[] = [];
    for (const [name, C] of classes) {
      const err = Reflect.construct(Error, ['m'], C) as Error; // without running its constructor's checks
      if (!(recordToError(errorToRecord(err)) instanceof C)) strays.push(name);
    }
    expect(strays).toEqual([]);
  });
});
