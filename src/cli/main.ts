#!/usr/bin/env node
/**
 * The `skein` command. Arguments are parsed by commander (help, usage errors, subcommands); the
 * work is done in run.ts and bench-command.ts.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError as BadArg, Option } from 'commander';
import { ExitCode, TooManyWorkersError, UsageError } from './errors.js';
import { BENCH_PEERS, BENCH_SCENARIOS } from './bench-names.js';
import type { RunConfig } from './run.js';
import { availableCores } from '../memory/cores.js';
import { MAX_WORKER_INDEX } from '../pool/index.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

function intAtLeast(min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new BadArg(`expected an integer >= ${min}, got '${v}'`);
    return n;
  };
}

/**
 * The most `--workers` that `skein run` takes: 16 per available core (threads beyond the cores pay
 * off only for tasks that wait, on I/O say, and each has its own V8 heap), and never more than a
 * pool holds.
 */
const WORKERS_PER_CORE = 16;
function workersLimit(): { limit: number; why: string } {
  const cores = availableCores();
  const perCore = WORKERS_PER_CORE * cores;
  return perCore <= MAX_WORKER_INDEX
    ? { limit: perCore, why: `${WORKERS_PER_CORE} x the ${cores} available cores` }
    : { limit: MAX_WORKER_INDEX, why: "a pool's most" };
}

function rate(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*s)?\s*$/.exec(v);
  const n = m ? Number(m[1]) : NaN;
  if (!(n > 0)) throw new BadArg(`expected items per second such as 100 or 100/s, got '${v}'`);
  return n;
}

function fnList(v: string): string[] {
  const names = v.split(',').map((s) => s.trim());
  if (names.some((s) => s === '')) throw new BadArg(`expected export names separated by commas, got '${v}'`);
  return names;
}

function threadList(v: string): string {
  const counts = v.split(',').map((s) => s.trim());
  if (counts.some((s) => !/^\d+$/.test(s) || Number(s) < 1)) throw new BadArg(`expected thread counts such as 2,4,8, got '${v}'`);
  return counts.join(',');
}

const RUN_HELP = `
Each input line is one JSON value. It is parsed in a worker, passed to the module's function (the
default export unless --fn names others; several names run as stages, each one's output the next
one's input), and the result is written as one JSON line. A result of undefined writes nothing;
one JSON cannot write (a function, a symbol, a BigInt) fails its line.
The module's setup(ctx) and teardown() exports, if it has them, run once in each worker: before
its first line and at the end. What the module prints (console.log, process.stdout) goes to
stderr, above the progress bar when one is drawn: stdout carries the results only.
--workers defaults to the available cores; more than 16 per core is refused.

Lines that are not JSON and items that throw go to the errors file, one JSON line each:
  {"line":7,"input":{...},"stage":"enrich","error":{"class":"TypeError","message":"..."}}
and never stop the batch unless --fail-fast. A worker that crashes or runs out of memory fails
only the item it was running (the other lines of its batch run again). A progress bar with rate
and ETA is drawn on stderr when stderr is a terminal.

Ctrl-C (SIGINT) or SIGTERM stops reading input, finishes the items already running (those still
queued are left undone), flushes and exits 130 (143 for SIGTERM); a second Ctrl-C stops at once,
as does one while --fail-fast is stopping the run.
With --output FILE, a job log (FILE.joblog, or --joblog) records finished lines; --resume then runs
only the lines not yet done, appending to the same files, so every line ends up exactly once in
the output or the errors. With --ordered the whole output stays in input order across runs: with a
job log, results that wait behind an item left undone are left for --resume, and a log from a run
without --ordered is refused (exit 2; its output cannot be put in order).

Exit status:
  0    every line was read and every item succeeded
  1    every line was read; some items failed or were malformed (see the errors file)
  2    usage error: bad option, task module or function not found (nothing ran)
  3    --fail-fast stopped at the first failure
  4    the command failed (a file could not be read or written)
  130  stopped by SIGINT (143: SIGTERM); --resume continues
  141  the output's reader went away (| head): stopped at once, quietly, as a Unix
       tool ended by SIGPIPE; lines not written are not logged (--resume runs them)

Examples:
  skein run ./hash.js < in.jsonl > out.jsonl
  skein run ./tasks.js --fn parse,enrich,pack -i in.jsonl -o out.jsonl --errors bad.jsonl
  skein run ./tasks.js -i in.jsonl -o out.jsonl --retries 2 --timeout 5000 --rate 500/s
  skein run ./tasks.js -i in.jsonl -o out.jsonl --resume      # after Ctrl-C
`;

export function program(): Command {
  const cmd = new Command('skein')
    .description('Parallel compute on Node.js worker threads: run JSONL batches and benchmarks on every core.')
    .version(pkg.version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  cmd
    .command('run')
    .description('run each line of a JSONL batch through a task module on every core')
    .argument('<task-module>', 'a .js/.mjs/.cjs module (.ts on Node >= 22.18 or under tsx) exporting (input, ctx) => output functions')
    .option('-f, --fn <names>', 'export(s) to run, comma-separated stages (default: the default export)', fnList)
    .option('-i, --input <file>', "JSONL input, '-' for stdin", '-')
    .option('-o, --output <file>', "where results go, '-' for stdout", '-')
    .option('-e, --errors <file>', "where failed and malformed lines go, '-' for stderr", '-')
    .option('-w, --workers <n>', `worker threads, at most ${WORKERS_PER_CORE} per available core (${workersLimit().limit})`, intAtLeast(1), availableCores())
    .option('-r, --retries <n>', 'retries of a failing item (with exponential backoff)', intAtLeast(0), 0)
    .option('-t, --timeout <ms>', 'fail an item that runs longer (its ctx.signal aborts; a worker still running it after the kill grace is replaced)', intAtLeast(1))
    .addOption(new Option('--rate <n/s>', 'start at most n items per second').argParser(rate))
    .option('--ordered', 'write results in input order (default: as they finish)')
    .option('--fail-fast', 'stop at the first failed or malformed line')
    .option('--resume', 'continue a stopped run: skip the lines its job log lists')
    .option('--joblog <file>', 'job log path (default: OUTPUT.joblog when --output is a file)')
    .option('--no-progress', 'never draw the progress bar')
    // For the bench: several --fn as a flow Pipeline's stages instead of in one pool task per batch.
    .addOption(new Option('--stages-via <how>').choices(['pipeline', 'pool']).hideHelp())
    .addHelpText('after', RUN_HELP)
    .action(async (module: string, o: Record<string, unknown>) => {
      const { limit, why } = workersLimit();
      if ((o.workers as number) > limit) throw new TooManyWorkersError(o.workers as number, limit, why);
      const cfg: RunConfig = {
        module,
        fns: (o.fn as string[] | undefined) ?? [],
        input: o.input as string,
        output: o.output as string,
        errors: o.errors as string,
        joblog: o.joblog as string | undefined,
        resume: o.resume === true,
        workers: o.workers as number,
        retries: o.retries as number,
        timeout: o.timeout as number | undefined,
        rate: o.rate as number | undefined,
        ordered: o.ordered === true,
        failFast: o.failFast === true,
        progress: o.progress === false ? false : undefined,
        stagesVia: o.stagesVia as 'pipeline' | 'pool' | undefined,
      };
      // Each command loads its own code only when it runs (start-up time is part of every `skein run`).
      const { runBatch } = await import('./run.js');
      process.exitCode = await runBatch(cfg);
    });
  cmd
    .command('bench')
    .description('run the pool benchmarks with peers side by side: a table, and an SVG chart')
    .argument('[scenario...]', `scenarios (default: all): ${BENCH_SCENARIOS.join(', ')}`)
    .option('--vs <peers>', `peers to compare with: ${BENCH_PEERS.join(',')}`, fnList, BENCH_PEERS)
    .option('--threads <list>', 'thread counts, e.g. 2,4 (default: the cores)', threadList)
    .option('--quick', 'fewer tasks per run')
    .option('--out <dir>', 'where pool.json and pool.svg go', 'bench/out')
    .addHelpText('after', '\nExamples:\n  skein bench cpu20us --vs piscina,poolifier\n  skein bench --quick\n')
    .action(async (scenarios: string[], o: Record<string, unknown>) => {
      const { runBench } = await import('./bench-command.js');
      process.exitCode = await runBench({
        scenarios,
        vs: o.vs as string[],
        threads: o.threads as string | undefined,
        quick: o.quick === true,
        out: o.out as string,
      });
    });
  return cmd;
}

async function main(argv: string[]): Promise<void> {
  // A stderr that is closed (EPIPE) loses the messages, and must not crash the command for it
  // (`skein run` stops when its errors file is stderr). Nor a stdout whose reader went away before
  // the help or version was written (`skein run --help | head -1`: an EPIPE stack trace, exit 1);
  // `skein run` hears its own output's errors (run.ts onOutputError).
  process.stderr.on('error', () => {});
  process.stdout.on('error', () => {});
  try {
    await program().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : ExitCode.Usage;
    } else if (err instanceof UsageError) {
      process.stderr.write(`skein: ${err.message}\n`);
      process.exitCode = err.exitCode;
    } else {
      process.stderr.write(`skein: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = ExitCode.Fatal;
    }
  }
  // Everything is flushed and closed by now; a handle that still holds the loop (a timer or socket
  // the task module opened when this thread loaded it to check it) must not hold the exit: once
  // stdout and stderr have taken what was written (2 s at most), exit (it waited 2 s each run).
  const until = performance.now() + 2000;
  const exit = (): void => {
    const pending = process.stdout.writableLength + process.stderr.writableLength;
    if (pending > 0 && performance.now() < until) setTimeout(exit, 10).unref();
    else process.exit();
  };
  setTimeout(exit, 10).unref();
}

await main(process.argv);
