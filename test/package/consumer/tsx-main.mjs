// Run as `node --import tsx tsx-main.mjs`: a pool over a .ts task module, on any Node >= 20.
import { WorkerPool } from 'skein';

const pool = new WorkerPool({ filename: new URL('./task.ts', import.meta.url), maxWorkers: 1 });
try {
  console.log('tsx ok', await pool.submit({ qty: 3, price: 7 }));
} catch (err) {
  console.log(`${err.name}: ${err.message}`);
} finally {
  await pool.close();
}
