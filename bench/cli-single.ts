/**
 * The one-process peer of `bench/cli.ts`: reads JSONL on stdin, runs each line through a task
 * module's default export on this one thread, writes JSONL to stdout. GNU parallel runs this too,
 * one `node` per block of lines.
 *
 * ```sh
 * node dist/bench/cli-single.js dist/workers/records.js < in.jsonl > out.jsonl
 * ```
 */
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const spec = process.argv[2];
if (!spec) {
  process.stderr.write('usage: cli-single <task-module> < in.jsonl > out.jsonl\n');
  process.exit(2);
}
const { default: fn } = (await import(pathToFileURL(resolve(spec)).href)) as { default: (x: unknown) => unknown };
let out: string[] = [];
for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (line.trim() === '') continue;
  out.push(JSON.stringify(await fn(JSON.parse(line))));
  if (out.length >= 1000) {
    process.stdout.write(`${out.join('\n')}\n`);
    out = [];
  }
}
if (out.length > 0) process.stdout.write(`${out.join('\n')}\n`);
