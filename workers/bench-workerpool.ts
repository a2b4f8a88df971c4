/**
 * workerpool's shape of the pool benchmark's tasks: the same functions as `bench-tasks.ts`,
 * registered by name (workerpool calls them through `pool.exec(name, [arg])`).
 */
import workerpool from 'workerpool';
import { echo, hash } from './bench-tasks.js';

workerpool.worker({ echo, hash });
