// The case table of test/browser.test.ts: one row per op, [name called in the library, its cases].
// Cases are plain data (browser/run-cases.mjs) so that the page and Node run exactly the same calls.
import * as tf from '@tensorflow/tfjs-core';
import * as lib from '../src/index';
import {Case, Expr, toBase64} from '../browser/run-cases.mjs';
import {normal, SHAPES, valueCases} from './helpers';

const T = (values: ArrayLike<number>, shape: number[], dtype: 'float32'|'int32' = 'float32'): Expr =>
  ({$tensor: toBase64(dtype === 'float32' ? Float32Array.from(values) : Int32Array.from(values)), shape, dtype});
const call = ($call: string, ...args: Expr[]): Expr => ({$call, args});
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Shapes this large get only these value sets: every tensor travels to the page as base64. */
const LARGE = 10_000;
const LARGE_VALUES = ['normal', 'ties'];

/** The bound weight of a `weights` case. */
const W: Expr = {$ref: 'w'};

/**
 * One case per named shape x named value set (test/helpers.ts), binding the weight once as `W`;
 * `f(values, shape)` gives the calls on it.
 */
function weights(f: (w: Float32Array, shape: number[]) => Expr, only?: (shape: number[]) => boolean): Case[] {
  return SHAPES.filter(([, s]) => !only || only(s)).flatMap(([shapeName, shape]) =>
    valueCases(size(shape), size(shape) + 11)
        .filter(([valueName]) => size(shape) < LARGE || LARGE_VALUES.includes(valueName))
        .map(([valueName, w]) => ({name: `${shapeName} ${valueName}`, let: {w: T(w, shape)}, expr: f(w, shape)})));
}

/** Several calls in one case, keyed by a label (numbered: labels may repeat, as 0 and -0 do). */
function variants<V>(list: readonly V[], label: (v: V) => string, expr: (v: V) => Expr): Expr {
  return Object.fromEntries(list.map((v, i) => [`${i} ${label(v)}`, expr(v)]));
}
const num = (x: number) => (Object.is(x, -0) ? '-0' : String(x));
const rank2 = (s: number[]) => s.length === 2;
/** A 0/1 mask that zeroes about a third of the entries, ties included. */
const maskOf = (n: number) => Float32Array.from({length: n}, (_, i) => ((i * 2654435761) % 3 === 0 ? 0 : 1));
const BLOCKS: Array<[number, number]> = [[1, 1], [2, 3], [4, 4], [1, 16], [100, 100]];
const grid = ([r, c]: number[], [bh, bw]: number[]) => [Math.ceil(r / bh), Math.ceil(c / bw)];

/** A pruned [k, n] weight: normal values with blocks of `block` zeroed at random. */
function prunedWeight(k: number, n: number, block: [number, number], seed: number): Float32Array {
  const w = normal(k * n, seed);
  const keep = normal(Math.ceil(k / block[0]) * Math.ceil(n / block[1]), seed + 1);
  const cols = Math.ceil(n / block[1]);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < n; j++) if (keep[Math.floor(i / block[0]) * cols + Math.floor(j / block[1])] < 0.5) w[i * n + j] = 0;
  }
  return w;
}
const PACKS: Array<[string, number, number, [number, number], 'float32'|'int8']> = [
  ['f32 1x16', 64, 40, [1, 16], 'float32'],
  ['f32 4x4', 33, 17, [4, 4], 'float32'],
  ['f32 2x8', 70, 64, [2, 8], 'float32'],
  ['int8 1x16', 64, 40, [1, 16], 'int8'],
  ['int8 1x4', 31, 9, [1, 4], 'int8'],
];
function packs(f: (packed: Expr, k: number, n: number, id: string) => Case[]): Case[] {
  return PACKS.flatMap(([id, k, n, blockSize, dtype], i) =>
    f(call('packBlockSparse', T(prunedWeight(k, n, blockSize, 100 + i), [k, n]), {blockSize, dtype}), k, n, id));
}
/** The serializable arrays of a packed weight, as computed in Node (inputs of the array ops). */
function packedArrays(): Array<[string, Expr]> {
  return PACKS.map(([id, k, n, blockSize, dtype], i) => {
    const packed = lib.packBlockSparse(tf.tensor(prunedWeight(k, n, blockSize, 100 + i), [k, n]), {blockSize, dtype});
    const a = packed.toArrays();
    packed.dispose();
    const typed = (v: Int32Array|Float32Array|Int8Array) => ({$typed: v.constructor.name, data: toBase64(v)}) as Expr;
    return [id, {shape: a.shape, blockSize: a.blockSize, dtype: a.dtype, colPtr: typed(a.colPtr), rows: typed(a.rows),
      values: typed(a.values), ...(a.scales ? {scales: typed(a.scales)} : {})}];
  });
}

export const OPS: Array<[string, () => Case[]]> = [
  ['maskFromThreshold', () => weights(w => variants([0, -0, 0.5, 1e-40, Infinity, NaN, Math.abs(w[w.length >> 1])],
      t => `t=${num(t)}`, t => call('maskFromThreshold', W, t)))],
  ['applyMask', () => weights((w, s) => call('applyMask', W, T(maskOf(w.length), s)))],
  ['countNonzero', () => weights(() => call('countNonzero', W))],
  ['kthLargestMagnitude', () => weights(w => variants([1, (w.length + 1) >> 1, w.length],
      k => `k=${k}`, k => call('kthLargestMagnitude', W, k)))],
  ['magnitudeThreshold', () => weights(() => variants([0, 0.25, 0.5, 0.999],
      sp => `s=${sp}`, sp => call('magnitudeThreshold', W, sp)))],
  ['keepCount', () => [1, 10, 1000, 123457].flatMap(n => [0, 0.25, 0.5, 0.9999]
      .map(sp => ({name: `n=${n} s=${sp}`, expr: call('keepCount', n, sp)})))],
  ['pruneMask', () => [
    ...weights(() => call('pruneMask', W, 0.5)),
    ...weights(() => call('pruneMask', W, 0.7, {blockSize: [2, 3], blockPoolingType: 'MAX'}), rank2),
  ]],
  ['blockPool', () => weights(() => variants(BLOCKS.flatMap(b => lib.POOLING_TYPES.map(p => [b, p] as const)),
      ([b, p]) => `${b} ${p}`, ([b, p]) => call('blockPool', W, b, p)), rank2)],
  ['expandBlockMask', () => SHAPES.filter(([, s]) => rank2(s)).flatMap(([id, s]) => BLOCKS.map(b =>
      ({name: `${id} ${b}`, expr: call('expandBlockMask', T(maskOf(size(grid(s, b))), grid(s, b)), b, s)})))],
  ['mByNMask', () => weights(() => variants([[2, 4], [1, 4], [3, 8], [1, 2]], mn => `${mn}`, mn => call('mByNMask', W, mn)),
      s => s.length === 2 || s.length === 4)],
  ['fastMatMul', () => ([[5, 7, 3], [1, 64, 33], [33, 16, 16], [70, 9, 128]] as const).flatMap(([m, k, n], i) =>
      [[false, false], [true, false], [false, true], [true, true]].map(([ta, tb]) => ({
        name: `m=${m} k=${k} n=${n} ta=${ta} tb=${tb}`,
        expr: call('fastMatMul', T(normal(m * k, i), ta ? [k, m] : [m, k]), T(normal(k * n, i + 50), tb ? [n, k] : [k, n]), ta, tb),
      })))],
  ['packBlockSparse', () => packs((packed, k, n, id) => [{name: id, expr: packed}])],
  ['unpackBlockSparse', () => packs((packed, k, n, id) => [{name: id, expr: call('unpackBlockSparse', packed)}])],
  ['blockSparseMatMul', () => packs((packed, k, n, id) => [1, 4, 9].flatMap(m => lib.VALID_BLOCK_SPARSE_KERNELS.map(kernel => ({
    name: `${id} m=${m} ${kernel}`,
    expr: call('blockSparseMatMul', T(normal(m * k, m), [m, k]), packed, {kernel, bias: T(normal(n, 7), [n]), activation: 'relu'}),
  }))))],
  ['planBlockSparseMatMul', () => packs((packed, k, n, id) => [1, 32].map(m =>
      ({name: `${id} m=${m}`, expr: call('planBlockSparseMatMul', [m, k], packed)})))],
  ['validateBlockSparseArrays', () => packedArrays().map(([id, a]) => ({name: id, expr: call('validateBlockSparseArrays', a)}))],
  ['BlockSparseMatrix.fromArrays', () => packedArrays().map(([id, a]) => ({name: id, expr: call('BlockSparseMatrix.fromArrays', a)}))],
  ['extractPatches', () => ([[1, 5, 5, 3, [3, 3], [1, 1], 'same'], [2, 8, 7, 2, [2, 3], [2, 1], 'valid'],
    [1, 9, 9, 1, [5, 5], [2, 2], 'same'], [3, 4, 6, 5, [1, 1], [1, 1], 'valid']] as const)
      .map(([b, h, w, c, kernelSize, strides, padding], i) => ({
        name: `x=[${b},${h},${w},${c}] k=${kernelSize.join('x')} strides=${strides.join('x')} ${padding}`,
        expr: call('extractPatches', T(normal(b * h * w * c, i + 30), [b, h, w, c]), {kernelSize: [...kernelSize], strides: [...strides], padding}),
      }))],
  ['SpMMNCHW', () => ([[1, 7, 5, 33, 'float32'], [2, 16, 24, 70, 'float32'], [1, 13, 9, 20, 'int8'], [2, 9, 4, 3, 'int8']] as const)
      .flatMap(([b, k, n, p, dtype], i) => [false, true].map(rowMajor => {
        const w = normal(k * n, i + 60).map((v, j) => (j % 3 === 0 ? v : 0));
        const packed = lib.PixelSparseMatrix.fromDense(w, [k, n], dtype);
        const {rowPtr, ics, values, scales} = packed.tensors;
        const inputs: Record<string, Expr> = {x: rowMajor ? T(normal(p * k, i), [p, k]) : T(normal(b * k * p, i), [b, k, p]),
          rowptr: T(rowPtr.dataSync(), rowPtr.shape, 'int32'), ics: T(ics.dataSync(), ics.shape, 'int32'),
          vals: T(values.dataSync(), values.shape, values.dtype as 'float32'|'int32'), bias: T(normal(n, i + 3), [n])};
        if (scales) inputs.scales = T(scales.dataSync(), scales.shape);
        packed.dispose();
        return {name: `b=${b} ${k}->${n} p=${p} ${dtype}${rowMajor ? ' rows' : ''}`,
          expr: {$kernel: 'SpMMNCHW', inputs, attrs: {n, vmin: 0, vmax: 6, rowMajor}}};
      }))],
  ['depthwiseConv2dChannelsFirst', () => ([[1, 3, 9, 11, 1, 'same'], [2, 5, 8, 8, 2, [[0, 1], [0, 1]]], [1, 8, 16, 13, 2, 'same'],
    [1, 6, 20, 20, 1, 'valid']] as const)
      .map(([b, c, h, w, strides, padding], i) => ({
        name: `x=[${b},${c},${h},${w}] s=${strides} ${JSON.stringify(padding)}`,
        expr: call('depthwiseConv2dChannelsFirst', T(normal(b * c * h * w, i + 40), [b, c, h, w]), T(normal(c * 9, i + 41), [c, 1, 3, 3]),
            {strides, padding: JSON.parse(JSON.stringify(padding)) as Expr, bias: T(normal(c, i + 42), [c]), activation: 'relu6'}),
      }))],
  ['changeLayout', () => ([[1, 5, 7, 3, 'channelsFirst'], [2, 4, 4, 9, 'channelsFirst'], [1, 6, 3, 3, 'channelsLast'],
    [3, 13, 2, 5, 'channelsLast'], [1, 28, 28, 24, 'channelsFirst']] as const)
      .map(([b, d1, d2, d3, to], i) => ({
        name: `x=[${b},${d1},${d2},${d3}] to ${to}`,
        expr: call('changeLayout', T(normal(b * d1 * d2 * d3, i + 60), [b, d1, d2, d3]), to),
      }))],
  ['Conv2DBackpropFilter', () => ([[1, 5, 5, 3, 2, 2, 4, 1, 'valid'], [2, 8, 7, 2, 3, 3, 5, 2, 'same'], [1, 9, 9, 1, 3, 2, 3, 2, 1]] as const)
      .map(([b, h, w, c, fh, fw, oc, stride, pad], i) => {
        const info = tf.backend_util.computeConv2DInfo([b, h, w, c], [fh, fw, c, oc], stride, 1, pad);
        const dyShape = [b, info.outHeight, info.outWidth, oc];
        return {name: `x=[${b},${h},${w},${c}] f=${fh}x${fw} stride=${stride} pad=${pad}`, expr: {$kernel: 'Conv2DBackpropFilter',
          inputs: {x: T(normal(b * h * w * c, i), [b, h, w, c]), dy: T(normal(size(dyShape), i + 9), dyShape)},
          attrs: {strides: [stride, stride], pad, dataFormat: 'NHWC', filterShape: [fh, fw, c, oc]}}};
      })],
];

/** Bad arguments: the same message in the page as in Node, and no leaked tensor. */
export const THROWS: Case[] = [
  {name: 'maskFromThreshold int32 w', expr: call('maskFromThreshold', T([1, 2], [2], 'int32'), 1)},
  {name: 'blockPool rank 1', expr: call('blockPool', T([1, 2], [2]), [1, 1], 'AVG')},
  {name: 'blockPool bad pooling', expr: call('blockPool', T([1, 2], [1, 2]), [1, 1], 'MEDIAN')},
  {name: 'mByNMask m >= n', expr: call('mByNMask', T(normal(16, 1), [4, 4]), [4, 4])},
  {name: 'magnitudeThreshold sparsity 1', expr: call('magnitudeThreshold', T([1, 2], [2]), 1)},
  {name: 'kthLargestMagnitude k too big', expr: call('kthLargestMagnitude', T([1, 2], [2]), 3)},
  {name: 'fastMatMul inner mismatch', expr: call('fastMatMul', T(normal(6, 1), [2, 3]), T(normal(8, 2), [4, 2]))},
  {name: 'extractPatches bad padding', expr: call('extractPatches', T(normal(8, 1), [1, 2, 2, 2]), {kernelSize: [1, 1], padding: 'causal'})},
  {name: 'blockSparseMatMul not packed', expr: call('blockSparseMatMul', T([1, 2], [1, 2]), {shape: [2, 2]})},
];
