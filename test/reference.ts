/**
 * Plain TypeScript versions of every kernel: typed arrays and shapes in, typed arrays out, no
 * tensors, no cleverness. The tests use them as the oracle.
 */

/** The magnitude key of a float32: |w| as an ordered integer; NaN sorts above +Infinity. */
export function magnitudeKey(w: number): number {
  const bits = new Int32Array(new Float32Array([w]).buffer)[0];
  return bits & 0x7fffffff;
}

/** 1 where |w| >= threshold (NaN weights always kept), else 0. */
export function maskFromThreshold(w: Float32Array, threshold: number): Float32Array {
  const t = Math.fround(threshold);
  const out = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) {
    out[i] = Number.isNaN(w[i]) ? 1 : Number.isNaN(t) ? 0 : Math.abs(w[i]) >= t ? 1 : 0;
  }
  return out;
}

/** The number of entries that are not ±0. */
export function countNonzero(w: Float32Array): number {
  let c = 0;
  for (let i = 0; i < w.length; i++) if (w[i] !== 0) c++;
  return c;
}

/**
 * The k-th largest magnitude (k from 1) by a full sort of the magnitude keys, as a one-element
 * float32 array holding the key's bits (NaN keys rank above +Infinity's; a NaN result keeps its bits).
 */
export function kthLargestMagnitude(w: Float32Array, k: number): Float32Array {
  const keys = Int32Array.from(new Int32Array(w.buffer, w.byteOffset, w.length), (b) => b & 0x7fffffff);
  keys.sort();
  return new Float32Array(Int32Array.of(keys[keys.length - k]).buffer);
}

/**
 * Block pooling of |w| ([rows, cols], row-major) over bh x bw blocks aligned at (0, 0), partial edge
 * blocks over their valid cells. AVG: each column's float32 sum over the block's rows in order,
 * divided by the row count, then the in-order float32 sum of those means divided by the column
 * count. MAX: the largest magnitude key (NaN above +Infinity), returned with its bits.
 */
export function blockPoolRef(w: Float32Array, rows: number, cols: number, bh: number, bw: number,
                             poolingType: 'AVG'|'MAX'): Float32Array {
  const gr = Math.ceil(rows / bh), gc = Math.ceil(cols / bw);
  const out = new Float32Array(gr * gc);
  const outBits = new Int32Array(out.buffer);
  // Keys straight from the bits: reading a float32 NaN into a JS number may change its payload.
  const bits = new Int32Array(w.buffer, w.byteOffset, w.length);
  for (let i = 0; i < gr; i++) {
    const r0 = i * bh, r1 = Math.min(r0 + bh, rows);
    for (let j = 0; j < gc; j++) {
      const c0 = j * bw, c1 = Math.min(c0 + bw, cols);
      if (poolingType === 'MAX') {
        let key = 0;
        for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) key = Math.max(key, bits[r * cols + c] & 0x7fffffff);
        outBits[i * gc + j] = key;
        continue;
      }
      let total = 0;
      for (let c = c0; c < c1; c++) {
        let sum = Math.abs(w[r0 * cols + c]);
        for (let r = r0 + 1; r < r1; r++) sum = Math.fround(sum + Math.abs(w[r * cols + c]));
        const mean = Math.fround(sum / (r1 - r0));
        total = c === c0 ? mean : Math.fround(total + mean);
      }
      out[i * gc + j] = total / (c1 - c0);
    }
  }
  return out;
}

/** Each value of a [ceil(rows/bh), ceil(cols/bw)] block mask repeated over its block, cropped to [rows, cols]. */
export function expandBlockMaskRef(blockMask: Float32Array, bh: number, bw: number, rows: number,
                                   cols: number): Float32Array {
  const gc = Math.ceil(cols / bw);
  const src = new Int32Array(blockMask.buffer, blockMask.byteOffset, blockMask.length);
  const out = new Int32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[r * cols + c] = src[Math.floor(r / bh) * gc + Math.floor(c / bw)];
  }
  return new Float32Array(out.buffer);
}

/**
 * tfmot's `generate_m_by_n_mask`, step by step: rearrange a rank-2 [in, out] weight to [out, in]
 * and a rank-4 [h, w, in, out] one to [out*h*w, in]; zero-pad each row by n - (in % n) (a full
 * extra group when in % n == 0); in each group of n keep the n - m largest magnitude keys, ties to
 * the lower index (tf.math.top_k's order; NaN ranks largest); drop the padding and map back.
 */
export function mByNMaskRef(w: Float32Array, shape: number[], m: number, n: number): Float32Array {
  const [spatial, cin, cout] = shape.length === 4 ? [shape[0] * shape[1], shape[2], shape[3]] : [1, shape[0], shape[1]];
  const width = cin + (n - (cin % n));
  const out = new Float32Array(w.length);
  const keys = new Int32Array(width);
  for (let o = 0; o < cout; o++) {
    for (let s = 0; s < spatial; s++) {
      // Row o*spatial + s of tfmot's [out*h*w, in] matrix, padded.
      keys.fill(0);
      for (let i = 0; i < cin; i++) keys[i] = magnitudeKey(w[(s * cin + i) * cout + o]);
      for (let g0 = 0; g0 < width; g0 += n) {
        const order = Array.from({length: n}, (_, j) => g0 + j).sort((a, b) => keys[b] - keys[a] || a - b);
        for (const i of order.slice(0, n - m)) if (i < cin) out[(s * cin + i) * cout + o] = 1;
      }
    }
  }
  return out;
}

/** y[M, N] = x[M, K] · w[K, N] (+ bias), relu optional, summed in float64. */
export function matMul(x: Float32Array, w: Float32Array, M: number, K: number, N: number,
                       bias?: Float32Array, relu = false): Float64Array {
  const y = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += x[m * K + k] * w[k * N + n];
      if (bias) acc += bias[n];
      y[m * N + n] = relu && acc < 0 ? 0 : acc;
    }
  }
  return y;
}

/**
 * The error bound of one output of an int8 block-sparse layer (`SparseDense`, `blockSparseMatMul`)
 * against the float32 product x·W: weights are quantized per output channel (|Δw| <= sw[n]/2 on
 * stored entries, exact zeros elsewhere), activations per row (|Δx| <= sx/2, sx = max|x[m, :]|/127),
 * products summed exactly in int32, so
 *   |y - ŷ| <= sw[n]/2 · Σ_k |x_k| + sx/2 · Σ_k |w_kn| + nnz_n · sx · sw[n] / 4   (k over stored w_kn),
 * plus float32 rounding of the final scaling. Dense fallbacks (dequantized W, float32 x) meet the
 * first term alone. Elementwise activations with slope <= 1 (relu, tanh, linear) and softmax (in the
 * max norm of a row) keep the bound.
 */
export function int8Bound(x: Float32Array|Int32Array|Uint8Array, m: number, w: Float32Array|Int32Array|Uint8Array,
                          [K, N]: [number, number], scales: Float32Array|Int32Array|Uint8Array, n: number): number {
  let sx = 0;
  for (let k = 0; k < K; k++) sx = Math.max(sx, Math.abs(x[m * K + k]));
  sx /= 127;
  let sumX = 0, sumW = 0, nnz = 0;
  for (let k = 0; k < K; k++) {
    if (w[k * N + n] === 0) continue;
    sumX += Math.abs(x[m * K + k]);
    sumW += Math.abs(w[k * N + n]);
    nnz++;
  }
  return scales[n] / 2 * sumX + sx / 2 * sumW + nnz * sx * scales[n] / 4;
}

/**
 * `int8Bound` for every output of `x [M, K] · w [K, N]`, plus float32 rounding of the final scaling
 * and of the quantizer's multiplies (a relative 2e-6 of the bound and of Σ_k |x|·|w|). relu only
 * shrinks the error.
 */
export function int8MatMulErrorBound(x: Float32Array, w: Float32Array, M: number, K: number, N: number,
                                     sw: Float32Array): Float64Array {
  const bound = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let absDot = 0;
      for (let k = 0; k < K; k++) absDot += Math.abs(x[m * K + k] * w[k * N + n]);
      bound[m * N + n] = int8Bound(x, m, w, [K, N], sw, n) * (1 + 2e-6) + 2e-6 * absDot;
    }
  }
  return bound;
}

/**
 * A 1x1 convolution of channel-major activations: y[b, n, p] = clamp(Σ_k w[k, n] · x[b, k, p] +
 * bias[n], vmin, vmax) in float64, for x [B, K, P] and w [K, N] (Keras [in, out]).
 */
export function channelMajorMatMul(x: Float32Array, w: Float32Array, B: number, K: number, N: number, P: number,
                                   bias: Float32Array|undefined, vmin: number, vmax: number): Float64Array {
  const y = new Float64Array(B * N * P);
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N; n++) {
      for (let p = 0; p < P; p++) {
        let acc = bias ? bias[n] : 0;
        for (let k = 0; k < K; k++) acc += w[k * N + n] * x[(b * K + k) * P + p];
        y[(b * N + n) * P + p] = Math.min(Math.max(acc, vmin), vmax);
      }
    }
  }
  return y;
}

/**
 * A 3x3 depthwise convolution of channel-major planes x [B, C, H, W] with filter [C, 9] (row-major
 * taps), stride s, zero padding `top`/`left` before (and whatever the output size needs after),
 * output [B, C, OH, OW], then bias and clamp; float64.
 */
export function depthwise3x3ChannelMajor(x: Float32Array, f: Float32Array, B: number, C: number, H: number, W: number,
                                         s: number, top: number, left: number, OH: number, OW: number,
                                         bias: Float32Array|undefined, vmin: number, vmax: number): Float64Array {
  const y = new Float64Array(B * C * OH * OW);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      for (let oy = 0; oy < OH; oy++) {
        for (let ox = 0; ox < OW; ox++) {
          let acc = bias ? bias[c] : 0;
          for (let ky = 0; ky < 3; ky++) {
            for (let kx = 0; kx < 3; kx++) {
              const iy = oy * s + ky - top, ix = ox * s + kx - left;
              if (iy >= 0 && iy < H && ix >= 0 && ix < W) acc += f[c * 9 + ky * 3 + kx] * x[((b * C + c) * H + iy) * W + ix];
            }
          }
          y[((b * C + c) * OH + oy) * OW + ox] = Math.min(Math.max(acc, vmin), vmax);
        }
      }
    }
  }
  return y;
}
