#!/usr/bin/env node
/** The `skein` command. A placeholder until the command lands: it says so and exits non-zero. */
process.stderr.write('usage: skein run <task-module> [options]\n(skein run is not built yet in this version)\n');
process.exitCode = 2;
