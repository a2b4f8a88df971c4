// What cjs.cts compiles to, run as is.
const skein = require('skein');

const sem = new skein.Semaphore(3);
console.log('cjs ok', sem.available, typeof skein.WorkerPool);
