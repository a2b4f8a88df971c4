// How `skein run` cuts its input into batches and logs finished lines: the pieces the --resume
// exactness and the error line numbers rest on, against simple models.
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchSizer } from '../../src/cli/batch-sizer.js';
import { mergeRanges } from '../../src/cli/joblog.js';
import { BatchCutter, type LineBatch, lineOf, readChunks } from '../../src/cli/jsonl-reader.js';

/**
 * Every batch of `parts` (the input cut into read chunks), cut at `sizes` in turn, skipping `done`;
 * `skipped.bytes` adds up the bytes of the lines skipped.
 */
async function batches(parts: Buffer[], sizes: number[], done: Set<number>, skipped = { bytes: 0 }): Promise<LineBatch[]> {
  const out: LineBatch[] = [];
  let k = 0;
  const skip = done.size > 0 ? (no: number) => done.has(no) : undefined;
  for await (const chunk of readChunks(Readable.from(parts))) {
    const cutter = new BatchCutter(chunk);
    for (let b = cutter.take(sizes[k++ % sizes.length], skip); b; b = cutter.take(sizes[k++ % sizes.length], skip)) out.push(b);
    skipped.bytes += cutter.skippedBytes;
  }
  return out;
}

const line = fc.oneof(
  fc.constantFrom('', ' ', '\r', '{"a":1}\r', 'é€😀'),
  fc.string({ unit: fc.constantFrom('a', '{', '"', ' ', '\r', 'é', '😀') }),
);

describe('skein run batching', () => {
  it('batches hold every line not done, once, with its number, text and bytes, whatever the chunking', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(line, { maxLength: 60 }),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat({ max: 400 }), { maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 61 }), { maxLength: 20 }),
        async (lines, endsWithNewline, sizes, cuts, doneList) => {
          const text = lines.join('\n') + (endsWithNewline && lines.length > 0 ? '\n' : '');
          const bytes = Buffer.from(text);
          // Cut the bytes anywhere, even inside a character: the reader must join them again.
          const at = [...new Set(cuts.map((c) => Math.min(c, bytes.length)))].sort((x, y) => x - y);
          const raw: Buffer[] = [];
          let from = 0;
          for (const c of [...at, bytes.length]) {
            if (c > from) raw.push(bytes.subarray(from, c));
            from = c;
          }
          const done = new Set(doneList);
          const skipped = { bytes: 0 };
          const got = await batches(raw, sizes, done, skipped);
          // The model: the text split on '\n', less the empty piece after a final '\n'; '\r' ends are cut.
          const model = text.split('\n');
          if (model[model.length - 1] === '') model.pop();
          const want = new Map<number, string>();
          for (const [i, l] of model.entries()) if (!done.has(i + 1)) want.set(i + 1, l.endsWith('\r') ? l.slice(0, -1) : l);
          const seen = new Map<number, string>();
          for (const b of got) {
            expect(b.count).toBeGreaterThan(0);
            expect(b.text.split('\n')).toHaveLength(b.count);
            for (let i = 0; i < b.count; i++) {
              expect(seen.has(b.first + i)).toBe(false);
              seen.set(b.first + i, lineOf(b, i));
            }
          }
          expect([...seen].sort((x, y) => x[0] - y[0])).toEqual([...want].sort((x, y) => x[0] - y[0]));
          // Each batch's bytes are its lines' bytes with their newlines; with the skipped lines', the input's.
          for (const b of got) {
            const ends = b.first + b.count - 1 < model.length || text.endsWith('\n');
            expect(b.bytes).toBe(Buffer.byteLength(model.slice(b.first - 1, b.first - 1 + b.count).join('\n')) + (ends ? 1 : 0));
          }
          expect(got.reduce((n, b) => n + b.bytes, skipped.bytes)).toBe(bytes.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a batch never holds more lines than asked, nor spans a line that is done', async () => {
    const text = Array.from({ length: 100 }, (_, i) => `{"n":${i + 1}}`).join('\n');
    const got = await batches([Buffer.from(text)], [7], new Set([10, 11, 50]));
    expect(got.every((b) => b.count <= 7)).toBe(true);
    for (const b of got) for (const d of [10, 11, 50]) expect(d >= b.first && d < b.first + b.count).toBe(false);
    expect(got.reduce((n, b) => n + b.count, 0)).toBe(97);
  });

  it('drops a UTF-8 byte order mark before the first line, even when it is split across reads', async () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const text = Buffer.from('{"n":1}\n{"n":2}\n');
    for (const parts of [[Buffer.concat([bom, text])], [bom.subarray(0, 1), bom.subarray(1, 2), Buffer.concat([bom.subarray(2), text])]]) {
      const got = await batches(parts, [10], new Set());
      expect(got.map((b) => [b.first, b.text])).toEqual([[1, '{"n":1}\n{"n":2}']]);
    }
    // A BOM anywhere else is part of its line (and so a malformed one).
    const later = await batches([Buffer.concat([text, bom, text])], [10], new Set());
    expect(lineOf(later[0], 2)).toBe('\ufeff{"n":1}');
  });

  it('gives a line that is not valid UTF-8 a batch of its own, marked, between batches of the others', async () => {
    const bad = Buffer.from([0x22, 0xff, 0x22]); // "\xff": a JSON string once its byte is replaced
    const got = await batches([Buffer.from('1\n2\n'), bad, Buffer.from('\n4\n5')], [10], new Set());
    expect(got.map((b) => [b.first, b.count, b.notUtf8 ?? false])).toEqual([
      [1, 2, false],
      [3, 1, true],
      [4, 1, false],
      [5, 1, false], // the last read's unfinished line
    ]);
  });

  it('reads a line spread over thousands of reads in time linear in its length', async () => {
    // 64 MiB in 64 KiB reads (stdin's size): joining the pieces again at each read copied 32 GiB.
    const piece = Buffer.alloc(64 * 1024, 0x61);
    const parts = Array.from({ length: 1024 }, () => piece);
    const got = await batches([...parts, Buffer.from('\n{"n":2}')], [10], new Set());
    expect(got.map((b) => [b.first, b.count, b.text.length])).toEqual([
      [1, 1, 64 * 1024 * 1024],
      [2, 1, 7],
    ]);
  }, 20_000);

  it('mergeRanges sorts and merges inclusive ranges into the same set of lines', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 200 }), fc.nat({ max: 10 }))), (pairs) => {
        const flat = pairs.flatMap(([a, len]) => [a, a + len]);
        const set = new Set<number>();
        for (const [a, len] of pairs) for (let n = a; n <= a + len; n++) set.add(n);
        const r = mergeRanges(flat);
        const got: number[] = [];
        for (let i = 0; i < r.length; i += 2) {
          expect(r[i]).toBeLessThanOrEqual(r[i + 1]);
          if (i > 0) expect(r[i]).toBeGreaterThan(r[i - 1] + 1); // sorted, apart, not touching
          for (let n = r[i]; n <= r[i + 1]; n++) got.push(n);
        }
        expect(got).toEqual([...set].sort((a, b) => a - b));
      }),
    );
  });

  it('batch size starts small, grows with the rate lines come back at, and stays fixed when asked', () => {
    const s = new BatchSizer(2);
    expect(s.size).toBe(8);
    // 2 workers returning 1000 lines per ms between them: 500 per worker per ms, capped at 4096.
    for (let t = 0; t <= 200; t += 10) s.done(10_000, t);
    expect(s.size).toBe(4096);
    const slow = new BatchSizer(2);
    // 1 line per 10 ms per worker: the smallest batch.
    for (let t = 0; t <= 2000; t += 50) slow.done(10, t * 10);
    expect(slow.size).toBe(4);
    expect(new BatchSizer(2, 1).size).toBe(1);
  });
});
