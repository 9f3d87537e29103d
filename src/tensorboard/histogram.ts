/** TensorFlow's histogram summaries: its default buckets and its encoding of a histogram. */

/** tensorflow's `HistogramProto`: bucket `i` counts the values in `[bucketLimit[i-1], bucketLimit[i])`. */
export interface Histogram {
  min: number;
  max: number;
  num: number;
  sum: number;
  sumSquares: number;
  bucketLimit: number[];
  bucket: number[];
}

let defaultBuckets: number[] | undefined;

/**
 * TensorFlow's default histogram bucket limits (tensorflow/core/lib/histogram/histogram.cc): limits
 * growing by 10% from 1e-12 to 1e20, mirrored for negative values, around 0, ending at ±DBL_MAX.
 */
function defaultBucketLimits(): number[] {
  if (defaultBuckets === undefined) {
    const positive: number[] = [];
    for (let v = 1e-12; v < 1e20; v *= 1.1) positive.push(v);
    positive.push(Number.MAX_VALUE);
    defaultBuckets = [...positive.map(v => -v).reverse(), 0, ...positive];
  }
  return defaultBuckets;
}

/**
 * A histogram of `values` with TensorFlow's default buckets and encoding (as its legacy
 * `tf.summary.histogram` op writes): each value goes to the first bucket whose limit exceeds it (DBL_MAX
 * itself to the last bucket), and runs of empty buckets are merged into the next limit.
 */
export function histogramOf(values: ArrayLike<number>, tag = 'histogram'): Histogram {
  const limits = defaultBucketLimits();
  const counts = new Float64Array(limits.length);
  let min = Number.MAX_VALUE, max = -Number.MAX_VALUE, sum = 0, sumSquares = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      throw new Error(`Histogram '${tag}': values must be finite numbers, but value ${i} is ${String(x)}`);
    }
    let lo = 0, hi = limits.length - 1;  // upper_bound (first limit > x), clamped to the last bucket
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (limits[mid] > x) hi = mid; else lo = mid + 1;
    }
    counts[lo]++;
    min = Math.min(min, x);
    max = Math.max(max, x);
    sum += x;
    sumSquares += x * x;
  }
  const bucketLimit: number[] = [], bucket: number[] = [];
  for (let i = 0; i < counts.length;) {
    let end = limits[i], count = counts[i];
    i++;
    if (count <= 0) {
      while (i < counts.length && counts[i] <= 0) {
        end = limits[i];
        count = counts[i];
        i++;
      }
    }
    bucketLimit.push(end);
    bucket.push(count);
  }
  return {min, max, num: values.length, sum, sumSquares, bucketLimit, bucket};
}
