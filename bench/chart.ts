/**
 * Bench charts as SVG: bars (median) with min-max whiskers and a ratio label per bar, drawn by
 * vega-lite (spec) and vega (rendered to SVG in node, no browser or canvas).
 *
 * ```sh
 * node dist/bench/chart.js bench/out/pool.json bench/out/pool.svg   # from `bench/pool.js --json`
 * ```
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as vega from 'vega';
import { compile } from 'vega-lite';

/** One bar: its group (a scenario), its name (a library), the median and the spread. */
export interface Bar {
  group: string;
  name: string;
  value: number;
  min: number;
  max: number;
  /** Shown beside the bar, e.g. '1.00x' or '0.35x of skein'. */
  label: string;
}

/** Renders the bars as an SVG document (one row of bars per group). */
export async function renderBars(bars: Bar[], title: string, unit: string): Promise<string> {
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values: bars },
    facet: { row: { field: 'group', type: 'nominal', title: null } },
    spec: {
      width: 420,
      layer: [
        {
          mark: 'bar',
          encoding: {
            y: { field: 'name', type: 'nominal', title: null, sort: null },
            x: { field: 'value', type: 'quantitative', title: unit },
            color: { field: 'name', type: 'nominal', legend: null },
          },
        },
        {
          mark: { type: 'rule', color: 'black' },
          encoding: {
            y: { field: 'name', type: 'nominal', sort: null },
            x: { field: 'min', type: 'quantitative' },
            x2: { field: 'max' },
          },
        },
        {
          mark: { type: 'text', align: 'left', dx: 4 },
          encoding: {
            y: { field: 'name', type: 'nominal', sort: null },
            x: { field: 'max', type: 'quantitative' },
            text: { field: 'label' },
          },
        },
      ],
    },
    resolve: { scale: { x: 'independent' } },
  };
  const view = new vega.View(vega.parse(compile(spec as never).spec), { renderer: 'none' });
  return view.toSVG();
}

interface PoolRun {
  lib: string;
  scenario: string;
  threads: number;
  metrics?: { n?: number; wallMs?: number[] };
  error?: string;
}

/** Bars from `bench/pool.js --json` output: tasks/s per library, ratios against skein. */
export function barsFromPoolJson(json: { runs: PoolRun[] }): Bar[] {
  const bars: Bar[] = [];
  for (const r of json.runs) {
    const walls = r.metrics?.wallMs;
    const n = r.metrics?.n;
    if (r.error || !walls?.length || !n) continue;
    const rates = walls.map((ms) => n / (ms / 1000)).sort((a, b) => a - b);
    bars.push({
      group: `${r.scenario}, ${r.threads} threads`,
      name: r.lib,
      value: rates[Math.floor(rates.length / 2)],
      min: rates[0],
      max: rates[rates.length - 1],
      label: '',
    });
  }
  for (const b of bars) {
    const ref = bars.find((x) => x.group === b.group && x.name === 'skein');
    b.label = ref ? `${(b.value / ref.value).toFixed(2)}x` : '';
  }
  return bars;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    console.error('usage: chart <pool.json> <out.svg>');
    process.exit(2);
  }
  const bars = barsFromPoolJson(JSON.parse(readFileSync(input, 'utf8')) as { runs: PoolRun[] });
  writeFileSync(output, await renderBars(bars, 'tasks per second (median; whiskers: min-max; ratio to skein)', 'tasks/s'));
  console.log(output);
}
