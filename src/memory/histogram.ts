/**
 * A log-bucketed histogram in shared memory that any thread records into.
 *
 * Layout (Int32 slots): bucket i counts values v (in microseconds) with
 *   i = 0                        for v <= 1 (and NaN)
 *   i = ceil(4 * log2(v))        otherwise (four buckets per doubling, about 19% wide), capped
 * so bucket i >= 1 holds 2^((i-1)/4) < v <= 2^(i/4): closed at its upper edge, as a Prometheus
 * bucket `le` is (a sample exactly on an edge, say 2^12 µs, counts in the bucket that ends there,
 * not the next). 1 µs .. ~2^31 µs (35 minutes) fit in BUCKETS slots; slot BUCKETS holds the count,
 * BUCKETS + 1 the max value in µs (clamped to int32). Recording is `Atomics.add` on one bucket and the count,
 * so concurrent recorders never lose a sample; a reader may see a bucket bumped before the count,
 * which only makes a snapshot off by the samples in flight.
 *
 * The counts are read unsigned: a bucket or the count holds 2^32 - 1 samples (at 100k samples a
 * second into one bucket of one worker's histogram, about 12 hours) and then wraps to 0, which a
 * reader sees as a counter reset (Prometheus' rate() takes it as one), never as a negative count.
 *
 * Hot writers (pool workers) each get their own histogram and a reader merges them, so no cache
 * line is shared between recording threads.
 */
const BUCKETS = 126;
const COUNT = BUCKETS;
const MAX = BUCKETS + 1;
const SLOTS = BUCKETS + 2;
/** Bytes of a histogram's memory. */
export const HISTOGRAM_BYTES = SLOTS * 4;

/** Summary of a histogram: durations in milliseconds. */
export interface HistogramSummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

function bucketOf(us: number): number {
  if (!(us > 1)) return 0;
  // Exact on the edges that matter: log2 of a power of two is exact, so 2^k µs lands in bucket 4k.
  const i = Math.ceil(4 * Math.log2(us));
  return i < BUCKETS ? i : BUCKETS - 1;
}

/** The value (µs) reported for bucket i: its geometric midpoint, 2^((i - 0.5) / 4). */
function bucketMid(i: number): number {
  if (i === 0) return 0.5;
  return 2 ** ((i - 1 + 0.5) / 4);
}

/** Each bucket's reported value (µs), computed once. */
const MIDS = Float64Array.from({ length: BUCKETS }, (_, i) => bucketMid(i));

export class SharedHistogram {
  readonly sab: SharedArrayBuffer;
  readonly #v: Int32Array;

  /** Over `HISTOGRAM_BYTES` of `sab` from `byteOffset` (a multiple of 4), or over new memory. */
  constructor(sab?: SharedArrayBuffer, byteOffset = 0) {
    this.sab = sab ?? new SharedArrayBuffer(HISTOGRAM_BYTES);
    this.#v = new Int32Array(this.sab, byteOffset, SLOTS);
  }

  /** Records a duration given in milliseconds. */
  record(ms: number): void {
    const us = ms * 1000;
    const v = this.#v;
    Atomics.add(v, bucketOf(us), 1);
    Atomics.add(v, COUNT, 1);
    const m = us >= 0x7fffffff ? 0x7fffffff : Math.ceil(us);
    let cur = Atomics.load(v, MAX);
    while (m > cur) {
      const prev = Atomics.compareExchange(v, MAX, cur, m);
      if (prev === cur) break;
      cur = prev;
    }
  }

  /** Bucket counts, the total count and the max (µs) added into `into` (for merging). */
  addTo(into: Float64Array): void {
    const v = this.#v;
    // `>>> 0`: a word past 2^31 samples reads as a count, not as a negative number.
    for (let i = 0; i < BUCKETS; i++) into[i] += Atomics.load(v, i) >>> 0;
    into[COUNT] += Atomics.load(v, COUNT) >>> 0;
    into[MAX] = Math.max(into[MAX], Atomics.load(v, MAX));
  }

  /** Clears every bucket. */
  reset(): void {
    for (let i = 0; i < SLOTS; i++) Atomics.store(this.#v, i, 0);
  }

  /** The mean in milliseconds (0 when empty), as {@link summarize} reports it, without the percentiles. */
  mean(): number {
    const v = this.#v;
    // Cheap while empty: a pipeline asks for its stages' means on each start until one is known.
    if (Atomics.load(v, COUNT) === 0) return 0;
    let count = 0;
    let sum = 0;
    for (let i = 0; i < BUCKETS; i++) {
      const c = Atomics.load(v, i) >>> 0;
      count += c;
      sum += c * MIDS[i];
    }
    return count === 0 ? 0 : Math.min(sum / count, Atomics.load(v, MAX)) / 1000;
  }

  /** A summary of this histogram alone. */
  summary(): HistogramSummary {
    return summarize([this]);
  }
}

/** Merges several histograms (e.g. one per worker) into one summary, in milliseconds. */
export function summarize(hists: Iterable<SharedHistogram>): HistogramSummary {
  const acc = new Float64Array(SLOTS);
  for (const h of hists) h.addTo(acc);
  const count = acc.slice(0, BUCKETS).reduce((a, b) => a + b, 0);
  if (count === 0) return { count: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
  const at = (q: number): number => {
    const rank = q * count;
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += acc[i];
      if (seen >= rank) return Math.min(bucketMid(i), acc[MAX]) / 1000;
    }
    return acc[MAX] / 1000;
  };
  let sum = 0;
  for (let i = 0; i < BUCKETS; i++) sum += acc[i] * MIDS[i];
  // Buckets are reported by their midpoints, which can lie above the largest value recorded (one
  // sample of 136.07 ms gave a mean of 142.9): the max is exact, so nothing reported passes it.
  const mean = Math.min(sum / count, acc[MAX]);
  return { count, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: acc[MAX] / 1000, mean: mean / 1000 };
}
