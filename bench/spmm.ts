// Block-sparse matmul against tf.matMul on the wasm backend (XNNPACK: no transposes, the dense
// weight one reused tensor), same process, reported as ratios.
//
//   node --import tsx bench/spmm.ts              full grid, hot, plus cold and the pruned weight
//   node --import tsx bench/spmm.ts --quick      a subset (headline shapes, 1x16 and 4x4)
//   node --import tsx bench/spmm.ts --only=RE    only the cases whose name matches RE (reruns)
//   node --import tsx bench/spmm.ts --thresholds sparse kernel vs best dense path per strip width
//                                                and density: the data behind SPARSE_MAX_DENSITY
//                                                (src/kernels/dispatch.ts)
//                                                (with --only=RE: the matching cases)
//   node --import tsx bench/spmm.ts --int8       int8 vs our f32 sparse kernel, 1x16 at 90 %: through
//                                                the tfjs op and as raw kernel calls
//
// "hot" calls one layer repeatedly; "cold" rotates over distinct layers totalling >= 96 MB of dense
// weights, so every call streams its weights from DRAM, as in a multi-layer model.
import * as tf from '@tensorflow/tfjs-core';
import {BlockSparseDtype, BlockSparseMatrix, blockSparseMatMul, packBlockSparse, planBlockSparseMatMul} from '../src/index';
import {DENSE_MATMUL} from '../src/kernels/dense_matmul';
import {SPMM_F32} from '../src/kernels/spmm_f32';
import {SPMM_I8} from '../src/kernels/spmm_i8';
import {CaseResult, markdownTable, timeAlternating, useWasm} from './util';
import {mulberry32} from '../src/util/random';
import {kernelsOn} from '../src/kernels/module';

const args = new Set(process.argv.slice(2));
const QUICK = args.has('--quick');
// --only=REGEX re-times just the matching cases (noisy ones) of the grid, cold and pruned runs.
const ONLY = new RegExp(process.argv.find(a => a.startsWith('--only='))?.slice(7) ?? '');

type Shape = [number, number, number];
const SHAPES: Shape[] = QUICK ?
    [[1, 1024, 1024], [32, 1024, 1024], [1, 768, 3072], [32, 768, 3072]] :
    [[1, 1024, 1024], [32, 1024, 1024], [1, 768, 3072], [32, 768, 3072], [1, 4096, 4096]];
const SPARSITIES = QUICK ? [0, 0.3, 0.5, 0.9] : [0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95];
const BLOCKS: Array<[number, number]> = QUICK ? [[1, 16], [4, 4]] : [[1, 1], [1, 4], [1, 16], [4, 4]];
const DTYPES: BlockSparseDtype[] = ['float32', 'int8'];
const COLD_BYTES = 96 * 2 ** 20;

const rng = mulberry32;

function gaussian(r: () => number): number {
  return Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
}

/** W [K, N] with exactly round((1 - s)·blocks) blocks nonzero, placed uniformly; values N(0, 0.05²). */
function randomBlockWeight(K: number, N: number, [bh, bw]: [number, number], s: number, seed: number): Float32Array {
  const r = rng(seed);
  const nrb = Math.ceil(K / bh), ncb = Math.ceil(N / bw), nb = nrb * ncb;
  const order = Int32Array.from({length: nb}, (_, i) => i);
  const keep = Math.round((1 - s) * nb);
  for (let i = 0; i < keep; i++) {
    const j = i + Math.floor(r() * (nb - i));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const w = new Float32Array(K * N);
  for (let i = 0; i < keep; i++) {
    const rb = Math.floor(order[i] / ncb), cb = order[i] % ncb;
    for (let k = rb * bh; k < Math.min(K, rb * bh + bh); k++) {
      for (let n = cb * bw; n < Math.min(N, cb * bw + bw); n++) w[k * N + n] = 0.05 * gaussian(r);
    }
  }
  return w;
}

/**
 * A "trained-ish" weight magnitude-pruned like tfmot with block pooling: low rank plus noise with
 * lognormal per-output scales, then the blocks of smallest mean |w| zeroed globally, so column
 * density is uneven (a few outputs keep most of their blocks, many keep none).
 */
function prunedWeight(K: number, N: number, [bh, bw]: [number, number], s: number, seed: number): Float32Array {
  const r = rng(seed);
  const rank = 32;
  const U = Float32Array.from({length: K * rank}, () => gaussian(r));
  const V = Float32Array.from({length: rank * N}, () => gaussian(r));
  const colScale = Float32Array.from({length: N}, () => Math.exp(1.2 * gaussian(r)));
  const w = new Float32Array(K * N);
  for (let k = 0; k < K; k++) {
    for (let n = 0; n < N; n++) {
      let v = 0.3 * gaussian(r);
      for (let j = 0; j < rank; j++) v += U[k * rank + j] * V[j * N + n] / Math.sqrt(rank);
      w[k * N + n] = 0.02 * v * colScale[n];
    }
  }
  const nrb = Math.ceil(K / bh), ncb = Math.ceil(N / bw);
  const score = new Float64Array(nrb * ncb);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) score[Math.floor(k / bh) * ncb + Math.floor(n / bw)] += Math.abs(w[k * N + n]);
  const sorted = Float64Array.from(score).sort();
  const threshold = sorted[Math.min(sorted.length - 1, Math.round(s * sorted.length))];
  for (let k = 0; k < K; k++) {
    for (let n = 0; n < N; n++) if (score[Math.floor(k / bh) * ncb + Math.floor(n / bw)] < threshold) w[k * N + n] = 0;
  }
  return w;
}

interface Layer {dense: tf.Tensor2D; packed: BlockSparseMatrix}

function makeLayers(K: number, N: number, block: [number, number], s: number, dtype: BlockSparseDtype,
                    count: number, make = randomBlockWeight): Layer[] {
  return Array.from({length: count}, (_, i) => {
    const dense = tf.tensor2d(make(K, N, block, s, 1000 * i + 17), [K, N]);
    return {dense, packed: packBlockSparse(dense, {blockSize: block, dtype})};
  });
}

function dropLayers(layers: Layer[]): void {
  for (const l of layers) {
    l.dense.dispose();
    l.packed.dispose();
  }
}

function gflops(M: number, K: number, N: number) {
  return (b: number, c: number) => ({
    'tf GFLOP/s': (2 * M * K * N / b / 1e9).toFixed(1),
    'ours eff. GFLOP/s': (2 * M * K * N / c / 1e9).toFixed(1),
  });
}

const ROUNDS = QUICK ? 15 : 25;
const timePair = (name: string, baseline: () => void, candidate: () => void,
                  extra?: (b: number, c: number) => Record<string, string>) =>
  timeAlternating(name, baseline, candidate, {rounds: ROUNDS, extra});

/** Times the dispatcher against tf.matMul over `layers` (one: hot; many: cold, rotating). */
function compare(name: string, M: number, layers: Layer[]): CaseResult {
  const [K, N] = layers[0].dense.shape;
  const x = tf.randomNormal([M, K]) as tf.Tensor2D;
  let i = 0, j = 0;
  const plan = planBlockSparseMatMul(x.shape, layers[0].packed);
  const result = timePair(name,
      () => tf.matMul(x, layers[i++ % layers.length].dense).dispose(),
      () => blockSparseMatMul(x, layers[j++ % layers.length].packed).dispose(),
      (b, c) => ({...gflops(M, K, N)(b, c), kernel: plan.kernel}));
  x.dispose();
  return result;
}

async function grid(): Promise<void> {
  const hot: CaseResult[] = [];
  const int8VsF32: string[] = [];
  for (const [M, K, N] of SHAPES) {
    for (const block of BLOCKS) {
      for (const s of SPARSITIES) {
        const ms: Record<string, number> = {};
        for (const dtype of DTYPES) {
          const name = `${M}x${K}x${N} ${block.join('x')} ${dtype === 'int8' ? 'i8' : 'f32'} s=${s}`;
          if (!ONLY.test(name)) continue;
          const layers = makeLayers(K, N, block, s, dtype, 1);
          const r = compare(name, M, layers);
          hot.push(r);
          ms[dtype] = r.candidateMs;
          dropLayers(layers);
        }
        if (s === 0.9 && ms.float32 && ms.int8) int8VsF32.push(`| ${M}x${K}x${N} ${block.join('x')} | ${(ms.float32 / ms.int8).toFixed(2)}x |`);
      }
    }
  }
  console.log('\n### Hot\n');
  console.log(markdownTable(hot, 'tf.matMul'));
  console.log('\n### int8 vs our f32 (dispatcher times, 90 % sparsity, hot)\n\n| case | int8 speedup over f32 |\n|---|---|');
  console.log(int8VsF32.join('\n'));
}

async function cold(): Promise<void> {
  const results: CaseResult[] = [];
  const shapes: Shape[] = [[1, 1024, 1024], [32, 1024, 1024], [1, 768, 3072], [32, 768, 3072]];
  for (const [M, K, N] of shapes) {
    const count = Math.ceil(COLD_BYTES / (K * N * 4));
    for (const block of (QUICK ? [[1, 16]] : [[1, 16], [4, 4]]) as Array<[number, number]>) {
      for (const s of QUICK ? [0, 0.5, 0.9] : [0, 0.3, 0.5, 0.8, 0.9, 0.95]) {
        for (const dtype of DTYPES) {
          const name = `cold ${M}x${K}x${N} ${block.join('x')} ${dtype === 'int8' ? 'i8' : 'f32'} s=${s} (${count} layers)`;
          if (!ONLY.test(name)) continue;
          const layers = makeLayers(K, N, block, s, dtype, count);
          results.push(compare(name, M, layers));
          dropLayers(layers);
        }
      }
    }
  }
  console.log('\n### Cold (weights from DRAM)\n');
  console.log(markdownTable(results, 'tf.matMul'));
}

async function pruned(): Promise<void> {
  const results: CaseResult[] = [];
  for (const [M, K, N] of [[1, 768, 3072], [32, 768, 3072]] as Shape[]) {
    for (const s of [0.5, 0.8, 0.9]) {
      for (const dtype of DTYPES) {
        if (!ONLY.test(`pruned ${M}x${K}x${N} 1x16 ${dtype === 'int8' ? 'i8' : 'f32'} s=${s}`)) continue;
        const layers = makeLayers(K, N, [1, 16], s, dtype, 1, prunedWeight);
        const ncb = Math.ceil(N / 16);
        const colPtr = layers[0].packed.toArrays().colPtr;
        let empty = 0, max = 0;
        for (let cb = 0; cb < ncb; cb++) {
          const c = colPtr[cb + 1] - colPtr[cb];
          if (c === 0) empty++;
          max = Math.max(max, c);
        }
        results.push(compare(`pruned ${M}x${K}x${N} 1x16 ${dtype === 'int8' ? 'i8' : 'f32'} s=${s} ` +
            `(empty col blocks ${empty}/${ncb}, max strips ${max}/${K})`, M, layers));
        dropLayers(layers);
      }
    }
  }
  console.log('\n### Magnitude-pruned weight (uneven column density)\n');
  console.log(markdownTable(results, 'tf.matMul'));
}

/** The sparse kernel against the best dense path, bypassing the dispatcher. */
async function thresholds(): Promise<void> {
  const rows: string[] = [];
  for (const dtype of DTYPES) {
    for (const bw of [16, 8, 4, 1]) {
      for (const [M, K, N] of [[1, 1024, 1024], [1, 768, 3072], [32, 1024, 1024], [32, 768, 3072], [1, 4096, 4096],
        [1024, 576, 64], [512, 256, 256]] as Shape[]) {
        for (const s of [0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]) {
          if (!ONLY.test(`${dtype} 1x${bw} ${M}x${K}x${N} s=${s}`)) continue;
          const [layer] = makeLayers(K, N, [1, bw], s, dtype, 1);
          const x = tf.randomNormal([M, K]) as tf.Tensor2D;
          const {colPtr, rowOffsets, values, scales} = layer.packed.tensors;
          const w = layer.packed.denseWeight();
          const sparseInputs: Record<string, tf.Tensor> = {x, colptr: colPtr, rowoff: rowOffsets, vals: values};
          if (scales) sparseInputs.scales = scales;
          const attrs = {n: N, bw, relu: false};
          const sparse = () => (tf.engine().runKernel(scales ? SPMM_I8 : SPMM_F32, sparseInputs, attrs) as tf.Tensor).dispose();
          const vsTf = timePair(`${dtype} 1x${bw} ${M}x${K}x${N} s=${s} sparse vs tf.matMul`, () => tf.matMul(x, w).dispose(), sparse);
          const vsOurs = timePair(`${dtype} 1x${bw} ${M}x${K}x${N} s=${s} sparse vs dense SIMD`,
              () => (tf.engine().runKernel(DENSE_MATMUL, {x, w}, {relu: false}) as tf.Tensor).dispose(), sparse);
          rows.push(`| ${dtype} | 1x${bw} | ${M}x${K}x${N} | ${s} | ${vsTf.ratio.toFixed(2)} | ${vsOurs.ratio.toFixed(2)} |`);
          x.dispose();
          dropLayers([layer]);
        }
      }
    }
  }
  console.log('\n| dtype | block | shape | sparsity | sparse/tf.matMul | sparse/dense SIMD |\n|---|---|---|---|---|---|');
  console.log(rows.join('\n'));
}

/** Our dense SIMD kernels against tf.matMul on the same dense weight. */
async function denseVsTf(): Promise<void> {
  for (const [M, K, N] of SHAPES) {
    const w = tf.randomNormal([K, N]);
    const x = tf.randomNormal([M, K]);
    timePair(`dense SIMD ${M}x${K}x${N}`, () => tf.matMul(x, w).dispose(),
        () => (tf.engine().runKernel(DENSE_MATMUL, {x, w}, {relu: false}) as tf.Tensor).dispose(), gflops(M, K, N));
    tf.dispose([w, x]);
  }
}

/**
 * Raw kernel calls on a private memory for `packed` (1x16) and activations [M, K]: what the sparse
 * kernel costs without tfjs's per-op work, JS→wasm call and (int8) activation quantization included,
 * as perf-anchors §4.4 measured the prototypes. M must be 1 or even.
 */
function rawKernel(packed: BlockSparseMatrix, M: number): () => void {
  const a = packed.toArrays();
  const [K, N] = packed.shape;
  const memory = new WebAssembly.Memory({initial: 1 + Math.ceil((M * K * 12 + a.values.byteLength * 2 + (K + N) * 64) / 65536)});
  const kern = kernelsOn(memory);
  let top = 64;
  const alloc = (bytes: number) => {
    const p = top;
    top += (bytes + 63) & ~63;
    return p;
  };
  const put = (v: Int32Array|Float32Array|Int8Array) => {
    const p = alloc(v.byteLength);
    new Uint8Array(memory.buffer, p, v.byteLength).set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    return p;
  };
  const x = put(Float32Array.from({length: M * K}, () => Math.random() - 0.5));
  const colptr = put(a.colPtr), rowoff = put(Int32Array.from(a.rows, k => k * 4)), vals = put(a.values);
  const y = alloc(M * N * 4), tmp = alloc(64);
  if (a.dtype === 'float32') {
    return M === 1 ? () => kern.f32_spmm_1x16__simd128(x, colptr, rowoff, vals, N, 0, 0, y, tmp) :
        () => kern.f32_spmm_2x16__simd128(x, M, K, colptr, rowoff, vals, N, 0, 0, y, tmp);
  }
  const scales = put(a.scales!), xq = alloc(M * K * 8), sx = alloc(M * 4);
  return M === 1 ? () => {
    kern.i8_quantize_rows__simd128(x, M, K, xq, sx);
    kern.i8_spmm_1x16__simd128(xq, sx, K, colptr, rowoff, vals, scales, N, 0, 0, y, tmp);
  } : () => {
    kern.i8_quantize_rows__simd128(x, M, K, xq, sx);
    kern.i8_spmm_2x16__simd128(xq, sx, M, K, colptr, rowoff, vals, scales, N, 0, 0, y, tmp);
  };
}

/** `count` packed 1x16 layers at 90 %, without dense copies (cold runs hold hundreds). */
function packedLayers(K: number, N: number, dtype: BlockSparseDtype, count: number): BlockSparseMatrix[] {
  return Array.from({length: count}, (_, i) => {
    const dense = tf.tensor2d(randomBlockWeight(K, N, [1, 16], 0.9, 1000 * i + 17), [K, N]);
    const packed = packBlockSparse(dense, {blockSize: [1, 16], dtype});
    dense.dispose();
    return packed;
  });
}

/**
 * int8 against our f32 sparse kernel (1x16, 90 %), both forced to the sparse kernel: through the
 * op, hot and cold, and as raw kernel calls (hot). Cold rotates over >= 96 MB of packed f32
 * weights (and as many int8 layers), so both stream from DRAM.
 */
async function int8VsF32(): Promise<void> {
  const rows: string[] = [];
  const shapes: Shape[] = [[1, 1024, 1024], [1, 768, 3072], [1, 4096, 4096], [32, 1024, 1024], [32, 768, 3072]];
  for (const [M, K, N] of shapes) {
    for (const cold of [false, true]) {
      if (cold && K * N > 4e6) continue;
      const count = cold ? Math.ceil(COLD_BYTES / (0.1 * K * N * 4.25)) : 1;
      const label = `${M}x${K}x${N} ${cold ? `cold (${count} layers)` : 'hot'}`;
      if (!ONLY.test(label)) continue;
      const f32 = packedLayers(K, N, 'float32', count);
      const i8 = packedLayers(K, N, 'int8', count);
      const x = tf.randomNormal([M, K]) as tf.Tensor2D;
      let i = 0, j = 0;
      const op = timePair(`${label}: int8 vs f32 through the op`,
          () => blockSparseMatMul(x, f32[i++ % count], {kernel: 'sparse'}).dispose(),
          () => blockSparseMatMul(x, i8[j++ % count], {kernel: 'sparse'}).dispose());
      const raw = cold ? '' :
          timePair(`${label}: int8 vs f32 raw kernel`, rawKernel(f32[0], M), rawKernel(i8[0], M)).ratio.toFixed(2) + 'x';
      rows.push(`| ${label} | ${(op.baselineMs * 1e3).toFixed(2)} | ${(op.candidateMs * 1e3).toFixed(2)} | **${op.ratio.toFixed(2)}x** | ${raw} |`);
      x.dispose();
      for (const p of [...f32, ...i8]) p.dispose();
    }
  }
  console.log('\n| case (1x16, 90 %) | f32 op µs | int8 op µs | int8 over f32, op | int8 over f32, raw kernel |\n|---|---|---|---|---|');
  console.log(rows.join('\n'));
}

await useWasm();
if (args.has('--int8')) {
  await int8VsF32();
} else if (args.has('--dense')) {
  await denseVsTf();
} else if (args.has('--thresholds')) {
  await thresholds();
} else {
  await grid();
  await cold();
  await pruned();
}
