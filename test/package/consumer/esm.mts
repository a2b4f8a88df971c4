// An ESM consumer: the public names and their types, as a user imports them.
import { CircuitBreaker, Semaphore, WorkerPool, type WorkerPoolOptions } from 'skein';

const options: WorkerPoolOptions = { filename: new URL('./task.mjs', import.meta.url), maxWorkers: 2 };
// Given the task module's type once, submit checks its input and types its result.
const pool = new WorkerPool<typeof import('./task.mjs')>(options);
const answer: number = await pool.submit(21);
if (answer < 0) {
  // @ts-expect-error the default export takes a number
  await pool.submit('21');
}
const breaker = new CircuitBreaker({ failureThreshold: 2, resetTimeout: 1000 });
const sem = new Semaphore(1);
const guard = await sem.acquire();
guard.release();
await breaker.execute(() => answer);
await pool.close();
console.log('esm ok', answer, sem.constructor.name);
