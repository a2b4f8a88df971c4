// `skein run` stopped by a signal: it finishes what is running, not all that is queued.
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { jsonLines, RECORDS, skein, start, tmp } from '../fixtures/cli-helpers.js';

describe('skein run stopped by a signal', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)(
    '%s runs none of the batches still queued in the pool (they are left for --resume), and --resume then does every line once',
    async (sig) => {
      const dir = tmp();
      const input = join(dir, 'in.jsonl');
      const N = 120;
      let text = '';
      for (let i = 1; i <= N; i++) text += `${JSON.stringify({ n: i, ms: 100 })}\n`;
      writeFileSync(input, text);
      const out = join(dir, 'out.jsonl');
      const args = ['run', RECORDS, '--fn', 'slow', '-i', input, '-o', out, '-w', '2'];
      const first = start(args);
      for (let t = 0; t < 400; t++) {
        await delay(25);
        try {
          if (statSync(out).size > 0) break;
        } catch {}
      }
      first.child.kill(sig);
      const r1 = await first.done;
      expect(r1.code).toBe(sig === 'SIGINT' ? 130 : 143);
      const done1 = jsonLines(out).length;
      // All N lines were handed to the pool at once (they fit its window); only the two batches
      // running when the signal came may finish, not the ~100 lines queued behind them.
      expect(done1).toBeGreaterThan(0);
      expect(done1).toBeLessThan(N / 2);
      expect(r1.stderr).toContain(`stopped after ${done1} items`);

      const r2 = await skein([...args, '--resume']);
      expect(r2.code).toBe(0);
      const got = (jsonLines(out) as { n: number }[]).map((x) => x.n).sort((a, b) => a - b);
      expect(got).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    },
    30_000,
  );
});
