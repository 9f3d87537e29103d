// Unpacking block-sparse weights (the strip layout of spmm_f32.ts / spmm_i8.ts) back to a dense
// row-major W[K, N]: for the dense fallback of the dispatcher and for users. Packing is done in
// TypeScript (src/sparse/format.ts): it runs once per layer and must validate as it goes.

/**
 * Both unpackings, one strip walk: `isI8` is a compile-time constant at each call, so each export
 * inlines its own copy loop. f32 strips are copied; int8 strips (pair-interleaved) are dequantized by the per-column scales `sw`.
 */
// @ts-ignore: decorator
@inline function unpackStrips(colptr: usize, rowoff: usize, vals: usize, sw: usize, bw: i32, k: i32, n: i32,
                              dst: usize, isI8: bool): void {
  const rowBytes = <usize>n << 2;
  memory.fill(dst, 0, <usize>k * rowBytes);
  const ncb = (n + bw - 1) / bw;
  for (let cb = 0; cb < ncb; cb++) {
    const n0 = cb * bw, nv = min(bw, n - n0);
    const s1 = load<i32>(colptr + (<usize>cb << 2), 4);
    for (let s = load<i32>(colptr + (<usize>cb << 2)); s < s1; s++) {
      const off = <usize>load<i32>(rowoff + (<usize>s << 2));
      const row = dst + (off >> 2) * rowBytes + (<usize>n0 << 2);
      if (isI8) {
        const q = vals + <usize>(s >> 1) * (<usize>bw << 1) + <usize>(s & 1);
        for (let j = 0; j < nv; j++) {
          const o = <usize>j << 2;
          store<f32>(row + o, load<f32>(row + o) + <f32>load<i8>(q + (<usize>j << 1)) * load<f32>(sw + (<usize>n0 << 2) + o));
        }
      } else {
        memory.copy(row, vals + <usize>s * (<usize>bw << 2), <usize>nv << 2);
      }
    }
  }
}

/**
 * dst = dense f32 W from f32 strips.
 * @param colptr int32[ceil(n/bw) + 1]
 * @param rowoff int32[strips] k·4 per strip
 * @param vals   float32[strips·bw]
 * @param bw     strip width
 * @param k      rows of W
 * @param n      columns of W
 * @param dst    float32[k·n] output
 */
export function f32_unpack_strips__scalar(colptr: usize, rowoff: usize, vals: usize, bw: i32, k: i32, n: i32, dst: usize): void {
  unpackStrips(colptr, rowoff, vals, 0, bw, k, n, dst, false);
}

/**
 * dst = dense f32 W from int8 strips, dequantized: W[k, n] = q · sw[n]. Pair-interleaved values;
 * zero padding strips add nothing.
 * @param colptr int32[ceil(n/bw) + 1]
 * @param rowoff int32[strips] k·4 per strip
 * @param vals   int8[strips·bw], pair-interleaved
 * @param sw     float32[n] scales
 * @param bw     strip width
 * @param k      rows of W
 * @param n      columns of W
 * @param dst    float32[k·n] output
 */
export function i8_unpack_strips__scalar(colptr: usize, rowoff: usize, vals: usize, sw: usize, bw: i32, k: i32, n: i32,
    dst: usize): void {
  unpackStrips(colptr, rowoff, vals, sw, bw, k, n, dst, true);
}
