// What esm.mts compiles to, run as is.
import { CircuitBreaker, Semaphore, WorkerPool } from 'skein';

const pool = new WorkerPool({ filename: new URL('./task.mjs', import.meta.url), maxWorkers: 2 });
const answer = await pool.submit(21);
if (answer < 0) {
  await pool.submit('21');
}
const breaker = new CircuitBreaker({ failureThreshold: 2, resetTimeout: 1000 });
const sem = new Semaphore(1);
const guard = await sem.acquire();
guard.release();
await breaker.execute(() => answer);
await pool.close();
console.log('esm ok', answer, sem.constructor.name);
