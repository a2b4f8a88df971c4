// An ESM consumer: the public names and their types, as a user imports them.
import { CircuitBreaker, Semaphore, WorkerPool, type WorkerPoolOptions } from 'skein';

const options: WorkerPoolOptions = { filename: new URL('./task.mjs', import.meta.url), maxWorkers: 2 };
const pool = new WorkerPool(options);
const answer = await pool.submit<number>(21);
const breaker = new CircuitBreaker({ failureThreshold: 2, resetTimeout: 1000 });
const sem = new Semaphore(1);
const guard = await sem.acquire();
guard.release();
await breaker.execute(() => answer);
await pool.close();
console.log('esm ok', answer, sem.constructor.name);
