/**
 * Record stages with real CPU work, used by `skein run`'s bench (`bench/cli.ts`), the demo and the
 * CLI tests: parse (check a record), enrich (~140 µs here: 20 rounds of SHA-256 plus an integer
 * hash chain), pack (gzip the record).
 *
 * @example
 * ```sh
 * skein run dist/workers/records.js --fn parse,enrich,pack -i records.jsonl -o packed.jsonl
 * ```
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

/** A record as the bench and the demo generate it. */
export interface Rec {
  id: number;
  user: string;
  tags: string[];
  text: string;
  digest?: string;
  score?: number;
}

/** Thrown by {@link parse} for a record without the fields a record has. */
export class InvalidRecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidRecordError';
  }
}

/** A record of about 260 bytes for id `i` (the same every time). */
export function makeRecord(i: number): Rec {
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india'];
  let text = '';
  for (let k = 0; text.length < 160; k++) text += `${words[(i * 7 + k * 3) % words.length]} `;
  return { id: i, user: `user-${(i * 2654435761) % 100000}`, tags: [words[i % 9], words[(i >> 3) % 9]], text: text.trim() };
}

/** Checks a record's shape. */
export function parse(r: Rec): Rec {
  if (typeof r !== 'object' || r === null || typeof r.id !== 'number' || typeof r.text !== 'string')
    throw new InvalidRecordError(`not a record: ${JSON.stringify(r)?.slice(0, 80)}`);
  return r;
}

/** 20 rounds of SHA-256 over the text, then an integer hash chain seeded by the digest (~140 µs). */
export function enrich(r: Rec): Rec {
  let d: Buffer = Buffer.from(r.text);
  for (let k = 0; k < 20; k++) d = createHash('sha256').update(d).digest();
  let h = d.readInt32LE(0);
  for (let k = 0; k < 40_000; k++) {
    h = Math.imul(h ^ k, 0x01000193);
    h ^= h >>> 13;
  }
  return { ...r, digest: d.toString('hex'), score: h >>> 0 };
}

/** Gzips the record; returns its id and sizes. */
export function pack(r: Rec): { id: number; bytes: number; gz: number; digest: string | undefined } {
  const raw = Buffer.from(JSON.stringify(r));
  return { id: r.id, bytes: raw.length, gz: gzipSync(raw).length, digest: r.digest };
}

/** The three stages fused, as one function. */
export default function all(r: Rec): ReturnType<typeof pack> {
  return pack(enrich(parse(r)));
}

/** Doubles `x.n` (a cheap stage for tests). */
export function double(x: { n: number }): { n: number } {
  return { n: x.n * 2 };
}

/** Throws for an item that asks to (`{ fail: true }`), else echoes it (for tests). */
export function maybeFail(x: { n: number; fail?: boolean }): { n: number } {
  if (x.fail) throw new RangeError(`item ${x.n} asked to fail`);
  return x;
}

/** Waits `x.ms` (default 5) and echoes the item (slow items, for the stop-and-resume tests). */
export async function slow(x: { n: number; ms?: number }): Promise<{ n: number }> {
  await new Promise((r) => setTimeout(r, x.ms ?? 5));
  return x;
}

const seen = new Set<number>();

/** Fails the first time this worker sees item `x.n`, then echoes it (for the retry test). */
export function flakyOnce(x: { n: number }): { n: number } {
  if (!seen.has(x.n)) {
    seen.add(x.n);
    throw new Error(`item ${x.n} fails once`);
  }
  return x;
}
