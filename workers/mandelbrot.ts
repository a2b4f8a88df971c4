/**
 * A task module with real CPU work: rows of the Mandelbrot set. Used by the demo (`npm start`).
 */
export interface RowJob {
  y: number;
  width: number;
  height: number;
  maxIter: number;
}

/** Escape-time counts for one row of a `width` x `height` view of the set. */
export default function row(job: RowJob): Uint16Array {
  const { y, width, height, maxIter } = job;
  const out = new Uint16Array(width);
  const ci = (y / height) * 2.4 - 1.2;
  for (let x = 0; x < width; x++) {
    const cr = (x / width) * 3.5 - 2.5;
    let zr = 0;
    let zi = 0;
    let i = 0;
    while (i < maxIter && zr * zr + zi * zi <= 4) {
      const t = zr * zr - zi * zi + cr;
      zi = 2 * zr * zi + ci;
      zr = t;
      i++;
    }
    out[x] = i;
  }
  return out;
}
