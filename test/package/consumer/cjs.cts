// A CommonJS consumer: require('skein') (Node >= 20.19 and >= 22.12 load ES modules by require).
import skein = require('skein');

const sem = new skein.Semaphore(3);
console.log('cjs ok', sem.available, typeof skein.WorkerPool);
