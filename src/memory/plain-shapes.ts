/**
 * Object shapes seen by the plain decoder (plain-decode.ts): a trie on key sequences. A shape seen
 * twice gets a compiled factory, `(v) => ({ "id": v[0], "name": v[1] })`, which makes objects of one
 * hidden class in one step; adding the keys one by one costs a megamorphic keyed store each (about
 * 3x slower). The trie is bounded ({@link MAX_SHAPES}); past it, and where code generation from
 * strings is disallowed, the decoder builds objects key by key.
 */

/** A node of the trie: the objects whose keys, in order, are `keys`. */
export class Shape {
  readonly next = new Map<string, Shape>();
  /** The child looked up last: messages of one shape in a row skip the Map. */
  lastKey = '';
  lastChild: Shape | null = null;
  hits = 0;
  make: ((v: unknown[]) => object) | null = null;
  constructor(readonly keys: readonly string[]) {}
}

const MAX_SHAPES = 4096;
/** Objects with more keys than this are built key by key. */
export const MAX_SHAPE_KEYS = 16;
/** The shape of `{}`: where every key sequence starts. */
export const ROOT_SHAPE = new Shape([]);
let shapes = 0;
let codegen = true;

/** Whether factories can be compiled here (false under --disallow-code-generation-from-strings). */
export function canCompile(): boolean {
  return codegen;
}

/** The shape `s` plus key `k`, or null once the trie is full. */
export function childShape(s: Shape, k: string): Shape | null {
  if (s.lastKey === k && s.lastChild) return s.lastChild;
  const c = s.next.get(k);
  if (c) {
    s.lastKey = k;
    s.lastChild = c;
    return c;
  }
  if (shapes >= MAX_SHAPES) return null;
  shapes++;
  const made = new Shape([...s.keys, k]);
  s.next.set(k, made);
  return made;
}

/** The factory of shape `s`: compiled at its second object; null before that or without codegen. */
export function factoryOf(s: Shape): ((v: unknown[]) => object) | null {
  if (s.make || ++s.hits < 2) return s.make;
  s.make = compile(s.keys);
  return s.make;
}

function compile(keys: readonly string[]): ((v: unknown[]) => object) | null {
  try {
    const body = keys.map((k, i) => `${JSON.stringify(k)}: v[${i}]`).join(', ');
    return new Function('v', `return { ${body} };`) as (v: unknown[]) => object;
  } catch {
    codegen = false; // --disallow-code-generation-from-strings
    return null;
  }
}
