// The pixel-vectorized sparse kernels (unstructured sparsity, activations channel-major) against
// tfjs's dense ops on the wasm backend, same process, reported as ratios.
//
//   node --import tsx bench/pixel.ts               headline: 1x1 convolutions vs tf.conv2d, f32 and
//                                                  int8, 80 % and 90 %, and Dense rows vs tf.matMul
//   node --import tsx bench/pixel.ts --thresholds  density sweeps behind PIXEL_MAX_DENSITY and the
//                                                  Dense-row limits (src/kernels/dispatch.ts)
//   node --import tsx bench/pixel.ts --tiles       16x1 against 8x1 and 32x1 tiles (raw kernel calls)
//   node --import tsx bench/pixel.ts --depthwise   our channel-major 3x3 depthwise vs tf.depthwiseConv2d
//   node --import tsx bench/pixel.ts --only=RE     only the cases whose name matches RE
//
// The channel-major kernel reads [K, P] and writes [N, P]; tf.conv2d reads [P, K] and writes [P, N]
// (NHWC): each does the same 1x1 convolution in its own layout, the layout change being the model's
// business (src/sparse/channel_major.ts, bench/mobilenet.ts).
import * as tf from '@tensorflow/tfjs-core';
import {blockSparseMatMul, channelMajorSparseMatMul, depthwiseConv2dChannelsFirst, packBlockSparse,
  PixelSparseMatrix} from '../src/index';
import {mulberry32} from '../src/util/random';
import {kernelsOn} from '../src/kernels/module';
import {CaseResult, markdownTable, timeAlternating, useWasm} from './util';

const args = new Set(process.argv.slice(2));
const ONLY = new RegExp(process.argv.find(a => a.startsWith('--only='))?.slice(7) ?? '');

/** W [K, N] with each entry kept with probability 1 - s (uniform, unstructured), values N(0, 1)-ish. */
function unstructured(K: number, N: number, s: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({length: K * N}, () => (r() < s ? 0 : r() - 0.5));
}

function gflops(P: number, K: number, N: number, density: number) {
  return (b: number, c: number) => ({
    'tf GFLOP/s': (2 * P * K * N / b / 1e9).toFixed(1),
    'ours GFLOP/s on nonzeros': (2 * P * K * N * density / c / 1e9).toFixed(1),
  });
}

/** The 1x1 convolution [1, P] pixels, K -> N: ours channel-major vs tf.conv2d NHWC. */
function convCase(P: number, K: number, N: number, s: number, dtype: 'float32'|'int8', vs: 'conv2d'|'f32'): CaseResult|null {
  const name = `conv1x1 P=${P} ${K}->${N} s=${s} ${dtype === 'int8' ? 'i8' : 'f32'} vs ${vs === 'conv2d' ? 'tf.conv2d' : 'our f32'}`;
  if (!ONLY.test(name)) return null;
  const w = unstructured(K, N, s, K * 31 + N + Math.round(s * 100));
  const packed = PixelSparseMatrix.fromDense(w, [K, N], dtype);
  const f32 = vs === 'f32' ? PixelSparseMatrix.fromDense(w, [K, N]) : null;
  const xc = tf.randomNormal([1, K, P]);
  const xn = tf.randomNormal([1, 1, P, K]) as tf.Tensor4D;
  const filter = tf.tensor4d(w, [1, 1, K, N]);
  const density = 1 - packed.sparsity;
  const result = f32 ?
    timeAlternating(name, () => channelMajorSparseMatMul(xc, f32).dispose(), () => channelMajorSparseMatMul(xc, packed).dispose()) :
    timeAlternating(name, () => tf.conv2d(xn, filter, 1, 'valid').dispose(), () => channelMajorSparseMatMul(xc, packed).dispose(),
        {extra: gflops(P, K, N, density)});
  tf.dispose([xc, xn, filter]);
  packed.dispose();
  f32?.dispose();
  return result;
}

/** A Dense layer over M rows: blockSparseMatMul's kernel `kernel` vs tf.matMul (unstructured W). */
function denseRowsCase(M: number, K: number, N: number, s: number, kernel: 'pixel'|'sparse', bw = 4): CaseResult|null {
  const name = `dense rows M=${M} ${K}->${N} s=${s} ${kernel === 'pixel' ? 'pixel' : `strips 1x${bw}`} vs tf.matMul`;
  if (!ONLY.test(name)) return null;
  const w = tf.tensor2d(unstructured(K, N, s, M + K + N), [K, N]);
  const packed = packBlockSparse(w, {blockSize: [1, bw]});
  const x = tf.randomNormal([M, K]) as tf.Tensor2D;
  const result = timeAlternating(name, () => tf.matMul(x, w).dispose(), () => blockSparseMatMul(x, packed, {kernel}).dispose(),
      {rounds: 15});
  tf.dispose([w, x]);
  packed.dispose();
  return result;
}

function headline(): void {
  const conv: CaseResult[] = [], int8: CaseResult[] = [], rows: CaseResult[] = [];
  for (const P of [256, 784, 3136]) {
    for (const C of [64, 128, 256, 512]) {
      for (const s of [0.8, 0.9]) {
        const r = convCase(P, C, C, s, 'float32', 'conv2d');
        if (r) conv.push(r);
        const q = convCase(P, C, C, s, 'int8', 'f32');
        if (q) int8.push(q);
      }
    }
  }
  // MobileNetV2's expand and project shapes (pixels, in, out) at 90 %.
  for (const [P, K, N] of [[12544, 16, 96], [3136, 24, 144], [3136, 144, 24], [784, 192, 32], [196, 384, 64],
    [196, 576, 96], [49, 960, 160], [49, 320, 1280]]) {
    const r = convCase(P, K, N, 0.9, 'float32', 'conv2d');
    if (r) conv.push(r);
  }
  for (const M of [256, 1024]) {
    for (const C of [256, 512, 1024]) {
      for (const s of [0.8, 0.9]) {
        const r = denseRowsCase(M, C, C, s, 'pixel');
        if (r) rows.push(r);
      }
    }
  }
  console.log('\n### 1x1 convolution, channel-major pixel kernel vs tf.conv2d (NHWC)\n');
  console.log(markdownTable(conv, 'tf.conv2d'));
  console.log('\n### int8 vs f32 pixel kernel\n');
  console.log(markdownTable(int8, 'our f32'));
  console.log('\n### Dense layer over M rows: pixel kernel (transposes included) vs tf.matMul\n');
  console.log(markdownTable(rows, 'tf.matMul'));
}

function thresholds(): void {
  const conv: CaseResult[] = [], rows: CaseResult[] = [];
  for (const [P, C] of [[256, 64], [784, 256], [196, 512], [3136, 128]]) {
    for (const s of [0.3, 0.4, 0.5, 0.6, 0.7]) {
      const r = convCase(P, C, C, s, 'float32', 'conv2d');
      if (r) conv.push(r);
    }
  }
  for (const [M, C] of [[16, 1024], [64, 1024], [128, 1024], [256, 256], [256, 1024], [1024, 512]]) {
    for (const s of [0.5, 0.7, 0.8, 0.9, 0.95]) {
      for (const [kernel, bw] of [['pixel', 4], ['sparse', 4], ['sparse', 16]] as const) {
        const r = denseRowsCase(M, C, C, s, kernel, bw);
        if (r) rows.push(r);
      }
    }
  }
  console.log('\n### Pixel kernel vs tf.conv2d by density\n');
  console.log(markdownTable(conv, 'tf.conv2d'));
  console.log('\n### Dense rows, unstructured: pixel and strip kernels vs tf.matMul\n');
  console.log(markdownTable(rows, 'tf.matMul'));
}

/** Raw kernel calls of the 16x1 tile against the 8x1 and 32x1 ones, on a private memory. */
function tiles(): void {
  const results: CaseResult[] = [];
  for (const [P, K, N, s] of [[784, 256, 256, 0.8], [784, 256, 256, 0.9], [3136, 64, 64, 0.9], [196, 512, 512, 0.9]]) {
    const memory = new WebAssembly.Memory({initial: 2 + Math.ceil((K * P + N * P + 2 * K * N + N + 32 * K) * 4 / 65536)});
    const kern = kernelsOn(memory);
    const packed = PixelSparseMatrix.fromDense(unstructured(K, N, s, 5), [K, N]);
    let top = 64;
    const put = (v: Int32Array|Float32Array) => {
      const p = top;
      new Uint8Array(memory.buffer, p, v.byteLength).set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      top += (v.byteLength + 63) & ~63;
      return p;
    };
    const x = put(Float32Array.from({length: K * P}, () => Math.random() - 0.5));
    const rowptr = put(packed.tensors.rowPtr.dataSync() as Int32Array);
    const ics = put(packed.tensors.ics.dataSync() as Int32Array), vals = put(packed.tensors.values.dataSync() as Float32Array);
    const y = top, pack = top + N * P * 4;
    const call = (f: typeof kern.f32_spmm_nchw_16x1__simd128) => () =>
      f(x, P * 4, P, rowptr, ics, vals, 0, N, 0, -Infinity, Infinity, y, P * 4, K, pack);
    for (const [label, other] of [['8x1', kern.f32_spmm_nchw_8x1__simd128], ['32x1', kern.f32_spmm_nchw_32x1__simd128]] as const) {
      const name = `tiles P=${P} ${K}->${N} s=${s}: 16x1 vs ${label}`;
      if (ONLY.test(name)) results.push(timeAlternating(name, call(other), call(kern.f32_spmm_nchw_16x1__simd128), {rounds: 30}));
    }
    packed.dispose();
  }
  console.log('\n### 16x1 tile vs others (raw kernel calls; ratio > 1: 16x1 faster)\n');
  console.log(markdownTable(results, 'other tile'));
}

function depthwise(): void {
  const results: CaseResult[] = [];
  for (const [H, C, s] of [[112, 32, 1], [112, 96, 2], [56, 144, 1], [56, 144, 2], [28, 192, 1], [28, 192, 2],
    [14, 384, 1], [14, 576, 1], [14, 576, 2], [7, 960, 1]]) {
    for (const fused of [false, true]) {
      const name = `dw3x3 ${H}x${H}x${C} s=${s}${fused ? ' +bias+relu6' : ''}`;
      if (!ONLY.test(name)) continue;
      const x = tf.randomNormal([1, C, H, H]) as tf.Tensor4D;
      const xn = tf.randomNormal([1, H, H, C]) as tf.Tensor4D;
      const f = tf.randomNormal([3, 3, C, 1]) as tf.Tensor4D;
      const fc = tf.randomNormal([C, 1, 3, 3]);
      const bias = tf.randomNormal([C]) as tf.Tensor1D;
      const strides = s as 1|2;
      results.push(timeAlternating(name,
          fused ? () => tf.tidy(() => tf.clipByValue(tf.add(tf.depthwiseConv2d(xn, f, strides, 'same'), bias), 0, 6)).dispose() :
            () => tf.depthwiseConv2d(xn, f, strides, 'same').dispose(),
          () => depthwiseConv2dChannelsFirst(x, fc, {strides, padding: 'same', bias: fused ? bias : undefined,
            activation: fused ? 'relu6' : 'linear'}).dispose(), {rounds: 20}));
      tf.dispose([x, xn, f, fc, bias]);
    }
  }
  console.log('\n### Channel-major 3x3 depthwise vs tf.depthwiseConv2d (NHWC, XNNPACK)\n');
  console.log(markdownTable(results, 'tf.depthwiseConv2d'));
}

await useWasm();
if (args.has('--thresholds')) thresholds();
else if (args.has('--tiles')) tiles();
else if (args.has('--depthwise')) depthwise();
else headline();
