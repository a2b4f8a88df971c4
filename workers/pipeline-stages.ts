/**
 * Stages of the pipeline bench (`bench/pipeline.ts`): parse a JSON line (~260 bytes), enrich (20
 * rounds of SHA-256 plus an integer hash chain, ~140 µs), pack (gzip). Every contender runs exactly
 * these functions; `all` is the three fused, for the floors.
 *
 * @example
 * ```ts
 * const pool = new FixedWorkerPool(2, { filename: new URL('../workers/pipeline-stages.js', import.meta.url) });
 * const packed = await pool.submit(line, { fn: 'all' });
 * ```
 */
import { enrich, pack, parse, type Rec } from './records.js';

/** Parses and checks one JSON line. */
export function parseLine(line: string): Rec {
  return parse(JSON.parse(line) as Rec);
}

export { enrich, pack };

/** The three stages fused. */
export function all(line: string): ReturnType<typeof pack> {
  return pack(enrich(parseLine(line)));
}

/** A raw worker's floor: all stages over a whole batch of lines, one message in, one out. */
export function allBatch(lines: string[]): ReturnType<typeof pack>[] {
  return lines.map(all);
}
