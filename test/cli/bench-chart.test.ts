// The bench chart (bench/chart.ts) and `skein bench`'s argument checks.
import { barsFromPoolJson, renderBars } from '../../bench/chart.js';
import { describe, expect, it } from 'vitest';
import { skein } from '../fixtures/cli-helpers.js';

describe('bench chart', () => {
  it('turns pool-bench runs into bars (median, min-max) with ratios to skein, drawn as SVG', async () => {
    const runs = [
      { lib: 'skein', scenario: 'cpu20us', threads: 2, metrics: { n: 1000, wallMs: [100, 200, 125] } },
      { lib: 'piscina', scenario: 'cpu20us', threads: 2, metrics: { n: 1000, wallMs: [400, 250] } },
      { lib: 'workerpool', scenario: 'cpu20us', threads: 2, error: 'timed out' },
    ];
    const bars = barsFromPoolJson({ runs });
    expect(bars).toEqual([
      { group: 'cpu20us, 2 threads', name: 'skein', value: 8000, min: 5000, max: 10000, label: '1.00x' },
      { group: 'cpu20us, 2 threads', name: 'piscina', value: 4000, min: 2500, max: 4000, label: '0.50x' },
    ]);
    const svg = await renderBars(bars, 'tasks per second', 'tasks/s');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('0.50x');
    expect(svg).toContain('piscina');
    // bars, min-max whiskers (rules) and ratio labels
    for (const mark of ['mark-rect role-mark', 'mark-rule role-mark', 'mark-text role-mark']) expect(svg).toContain(mark);
  });

  it('skein bench names an unknown scenario or peer; exit 2', async () => {
    const s = await skein(['bench', 'nosuch']);
    expect(s.code).toBe(2);
    expect(s.stderr).toContain("unknown scenario 'nosuch'");
    const p = await skein(['bench', 'trivial', '--vs', 'fastpool']);
    expect(p.code).toBe(2);
    expect(p.stderr).toContain("unknown peer 'fastpool'");
  });

  it('skein bench refuses a bad --threads list with a usage message; exit 2 (it was a stack trace from the bench, exit 1)', async () => {
    for (const bad of ['abc', '2,0', '4,', '1.5']) {
      const r = await skein(['bench', 'trivial', '--threads', bad]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`option '--threads <list>' argument '${bad}' is invalid`);
      expect(r.stderr).not.toContain('    at ');
    }
  });
});
