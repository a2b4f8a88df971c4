// The pool's source layout: its owners talk through interfaces (no import cycles), and layers
// above it (src/flow, ...) reach it only through its public face, src/pool/index.ts.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function tsFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports and re-exports of a file (type-only ones too), as absolute .ts paths. */
function importsOf(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s*'(\.[^']+)'/g)) {
    out.push(path.resolve(path.dirname(file), m[1].replace(/\.js$/, '.ts')));
  }
  return out;
}

/** Strongly connected groups of more than one file (Tarjan). */
function cycles(files: string[]): string[][] {
  const graph = new Map(files.map((f) => [f, importsOf(f).filter((d) => files.includes(d))]));
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        group.push(path.relative(root, w));
      } while (w !== v);
      if (group.length > 1) found.push(group);
    }
  };
  for (const f of files) if (!index.has(f)) visit(f);
  return found;
}

describe('pool source structure', () => {
  it('has no import cycles in src/pool (type-only imports count too)', () => {
    const files = tsFiles(path.join(root, 'src/pool'));
    expect(files.length).toBeGreaterThan(20);
    expect(cycles(files)).toEqual([]);
  });

  it('the import scan sees the pool files imports', () => {
    // Guards the test above against a parser that sees no imports at all.
    const files = tsFiles(path.join(root, 'src/pool'));
    expect(files.some((f) => importsOf(f).length > 0)).toBe(true);
  });

  it('other layers import the pool only through its faces (src/pool/index.ts; worker-api.ts for worker-side code)', () => {
    const poolDir = path.join(root, 'src/pool') + path.sep;
    const faces = [path.join(root, 'src/pool/index.ts'), path.join(root, 'src/pool/worker-api.ts')];
    const offenders: string[] = [];
    for (const f of tsFiles(path.join(root, 'src'))) {
      if (f.startsWith(poolDir) || f === path.join(root, 'src/index.ts') || f === path.join(root, 'src/internal.ts'))
        continue;
      for (const d of importsOf(f)) {
        if (d.startsWith(poolDir) && !faces.includes(d)) offenders.push(`${path.relative(root, f)} -> ${path.relative(root, d)}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('the main and worker sides meet only in src/pool/shared (and the worker face)', () => {
    const side = (f: string): string => path.relative(path.join(root, 'src/pool'), f).split(path.sep)[0];
    const offenders: string[] = [];
    for (const f of tsFiles(path.join(root, 'src/pool'))) {
      const from = side(f);
      for (const d of importsOf(f)) {
        const to = side(d);
        if (from === 'worker' && to === 'main') offenders.push(`${path.relative(root, f)} -> ${path.relative(root, d)}`);
        if (from === 'main' && to === 'worker' && path.basename(d) !== 'index.ts')
          offenders.push(`${path.relative(root, f)} -> ${path.relative(root, d)}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
