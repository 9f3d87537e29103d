/**
 * One layer's conversion for `toSparse` (`to_sparse.ts`): a Dense or Conv2D layer whose kernel is
 * sparse enough becomes a `SparseDense` / `SparseConv2D` with its kernel stored compactly and its
 * kernel layout chosen for the dispatcher; every other layer is copied; each is reported.
 */
import {dispose, Tensor, tensor1d, tensor2d} from '@tensorflow/tfjs-core';
import {LayersModel, layers} from '@tensorflow/tfjs-layers';
import {chooseStripWidth, PLAN_BATCHES} from '../kernels/dispatch';
import {cloneModel} from '../model/clone';
import {cloneLayer} from '../model/graph';
import {BlockSparseKernel, planBlockSparseMatMul} from './matmul';
import {packBlockSparse} from './pack';
import {INT8_MAX_K, StoredDtype} from './quantize';
import {SparseConv2D, SparseConv2DArgs} from './sparse_conv2d';
import {SparseDense, SparseDenseArgs} from './sparse_dense';
import {chooseBlockSize, encodeWeight, int8ToWords, StorageError, storedBytes, StoredWeight} from './storage';

type Layer = layers.Layer;

/** What `toSparse` did with one layer that has weights. */
export interface SparseLayerReport {
  /** Layer name. */
  name: string;
  /** Class of the layer in the input model. */
  className: string;
  /**
   * Class in the output model: 'SparseDense', 'SparseConv2D', 'DepthwiseConv2DChannelsFirst',
   * '(folded)' for a BatchNormalization folded into the convolution before it, or `className`
   * when left as it was.
   */
  newClassName: string;
  /** Layout the layer runs in: 'channelsFirst' inside a channel-major run. */
  layout: 'channelsLast'|'channelsFirst';
  converted: boolean;
  /** Why the layer was converted or left dense. */
  reason: string;
  /** Fraction of exact zeros in the kernel (null for layers without one). */
  sparsity: number|null;
  dtype: StoredDtype|null;
  /** Stored block shape and where it came from. */
  blockSize: [number, number]|null;
  blockSource: 'option'|'pruning'|'chosen'|null;
  /** Strip width of the kernel layout (`[1, bw]`). */
  kernelBlockSize: [number, number]|null;
  /** Fraction of the kernel's entries inside stored strips of that layout (what the sparse kernel multiplies). */
  kernelDensity: number|null;
  /**
   * The dispatcher's kernel (`planBlockSparseMatMul`) at batch 1 and 32 on the current backend (for
   * a convolution, the matmul of that many examples' OH·OW patch rows).
   */
  kernel: {batch1: BlockSparseKernel; batch32: BlockSparseKernel; backend: string}|null;
  /** Weight bytes of the layer before and after (tfjs stores 4 bytes per float32 or int32 entry). */
  bytesBefore: number;
  bytesAfter: number;
}

/**
 * The strip width of the kernel layout for `w` (`[K, N]`): the one for which the dispatcher
 * (`planBlockSparseMatMul`) runs the sparse kernel at the most of the planned batch sizes; ties go to
 * the cheapest stored strips (`chooseStripWidth` in `src/kernels/dispatch.ts` holds the rule and its
 * costs). A 1x16-pruned weight gets 16. An unstructured 80 % sparse one gets 16 for int8 (its 1x16
 * kernel beats tf.matMul at batch 32 even dense) and 4 for float32 (a 4-wide strip is all zero with
 * probability 0.8^4 = 41 %, a 16-wide one with 3 %). A convolution multiplies `rowsPerExample` patch
 * rows (OH·OW) per example.
 */
export function chooseKernelBlockWidth(w: Float32Array, shape: [number, number], dtype: StoredDtype = 'float32',
                                       rowsPerExample = 1): number {
  const [K, N] = shape;
  const dense = tensor2d(w, shape);
  try {
    return chooseStripWidth(dtype, N, bw => {
      const packed = packBlockSparse(dense, {blockSize: [1, bw], dtype});
      try {
        const sparseBatches = PLAN_BATCHES.filter(b => planBlockSparseMatMul([b * rowsPerExample, K], packed).kernel === 'sparse').length;
        return {sparseBatches, strips: packed.strips};
      } finally {
        packed.dispose();
      }
    });
  } finally {
    dense.dispose();
  }
}

function weightBytes(layer: Layer): number {
  return layer.weights.reduce((sum, w) => sum + 4 * w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
}

function zerosFraction(w: Float32Array): number {
  let zeros = 0;
  for (let i = 0; i < w.length; i++) if (w[i] === 0) zeros++;
  return w.length === 0 ? 0 : zeros / w.length;
}

/** The options a conversion applies to each layer (`toSparse`'s, checked). */
export interface ConversionOptions {
  dtype: StoredDtype;
  minSparsity: number;
  blockSize?: [number, number];
}

/** The state of one `toSparse` run, shared by the layers it converts. */
export interface Conversion {
  options: ConversionOptions;
  /** Kernels read ahead (asynchronously) for the layers that may be converted. */
  kernels: Map<Layer, Float32Array>;
  /** Block sizes of the layers pruned in blocks, by inner layer. */
  pruningBlocks: Map<Layer, [number, number]>;
  report: SparseLayerReport[];
  /** Weights to set on new layers once their model is built, and the tensors made for them. */
  pending: Array<{layer: Layer; values: Tensor[]; made: Tensor[]}>;
  /** The new layer of each converted report entry (SparseConv2D is a SparseDense) and its matmul rows per example. */
  converted: Map<SparseLayerReport, {layer: SparseDense; rowsPerExample: number}>;
}

/** A Conv2D config value that may be one number or a pair, as a pair. */
function pairOf(v: unknown): [number, number] {
  return Array.isArray(v) ? [v[0], v[1]] : [v as number, v as number];
}

/** Why a layer with weights does not run on the block-sparse matmul, or null when it does. */
function notConvertible(layer: Layer): string|null {
  const className = layer.getClassName();
  if (className === 'Dense') return null;
  if (className !== 'Conv2D') return `${className} layers are not converted (only Dense and Conv2D)`;
  const config = layer.getConfig();
  const dilation = pairOf(config.dilationRate ?? 1);
  if (dilation[0] !== 1 || dilation[1] !== 1) return `Conv2D with dilation ${dilation.join('x')} is not converted (only dilation 1)`;
  if (config.padding !== 'valid' && config.padding !== 'same') return `Conv2D with padding '${String(config.padding)}' is not converted`;
  return null;
}

/** Whether a layer with weights runs on the block-sparse matmul once converted (Dense, Conv2D of dilation 1). */
export function isConvertible(layer: Layer): boolean {
  return notConvertible(layer) === null;
}

/** Matmul rows per example: OH·OW for a convolution whose output size is known, else 1. */
function rowsPerExample(layer: Layer): number {
  if (layer.getClassName() !== 'Conv2D') return 1;
  const shape = layer.outputShape as Array<number|null>;
  const spatial = layer.getConfig().dataFormat === 'channelsFirst' ? shape.slice(2) : shape.slice(1, 3);
  return spatial.every(d => typeof d === 'number') ? (spatial as number[]).reduce((a, b) => a * b, 1) : 1;
}

/** The kernel of a convertible layer as `[K, N]`: a Conv2D kernel `[kh, kw, in, out]` is `[kh·kw·in, out]` in memory. */
function matrixShape(layer: Layer): [number, number] {
  const shape = layer.weights[0].shape as number[];
  const n = shape[shape.length - 1];
  return [shape.reduce((a, b) => a * b, 1) / n, n];
}

/** The decision for one convertible layer: a stored weight and why, or the reason to stay dense. */
function planLayer(layer: Layer, conv: Conversion): {stored: StoredWeight; entry: SparseLayerReport}|SparseLayerReport {
  const w = conv.kernels.get(layer)!;
  const kernelShape = matrixShape(layer);
  const [K, N] = kernelShape;
  const {dtype, minSparsity} = conv.options;
  const sparsity = zerosFraction(w);
  const base: SparseLayerReport = {
    name: layer.name, className: layer.getClassName(), newClassName: layer.getClassName(), converted: false,
    reason: '', sparsity, dtype: null, blockSize: null, blockSource: null, kernelBlockSize: null, kernelDensity: null, kernel: null,
    layout: 'channelsLast', bytesBefore: weightBytes(layer), bytesAfter: weightBytes(layer),
  };
  if (sparsity < minSparsity) {
    return {...base, reason: `kernel sparsity ${sparsity.toFixed(4)} is below minSparsity ${minSparsity}: left dense`};
  }
  if (dtype === 'int8' && K > INT8_MAX_K) {
    return {...base, reason: `int8 needs at most ${INT8_MAX_K} inputs (i32 accumulation), the kernel has ${K}: left dense`};
  }
  const clip = (b: [number, number]): [number, number] => [Math.min(b[0], K), Math.min(b[1], N)];
  const fromPruning = conv.pruningBlocks.get(layer);
  const [blockSize, blockSource] = conv.options.blockSize ? [clip(conv.options.blockSize), 'option' as const] :
      fromPruning ? [clip(fromPruning), 'pruning' as const] : [chooseBlockSize(w, kernelShape, dtype), 'chosen' as const];
  let stored: StoredWeight;
  try {
    stored = encodeWeight(w, kernelShape, blockSize, dtype);
  } catch (e) {
    if (e instanceof StorageError) return {...base, reason: `${e.what}: left dense`};
    throw e;
  }
  const kernelBytes = 4 * K * N;
  const sparseBytes = storedBytes(stored);
  if (sparseBytes >= kernelBytes) {
    return {...base, reason: `the compact kernel (${sparseBytes} B) is not smaller than the dense one (${kernelBytes} B): left dense`};
  }
  const entry: SparseLayerReport = {
    ...base, newClassName: layer.getClassName() === 'Dense' ? SparseDense.className : SparseConv2D.className, converted: true, dtype, blockSize, blockSource,
    reason: `kernel sparsity ${sparsity.toFixed(4)} >= minSparsity ${minSparsity}`,
    bytesAfter: weightBytes(layer) - kernelBytes + sparseBytes,
  };
  return {stored, entry};
}

function convertMatrixLayer(layer: Layer, conv: Conversion): Layer {
  const decision = planLayer(layer, conv);
  if (!('stored' in decision)) {
    conv.report.push(decision);
    return copyLayer(layer, conv);
  }
  const {stored, entry} = decision;
  const config = layer.getConfig();
  const w = conv.kernels.get(layer)!;
  const rows = rowsPerExample(layer);
  const kernelBlockSize: [number, number] = [1, chooseKernelBlockWidth(w, stored.shape, stored.dtype, rows)];
  const args: SparseDenseArgs = {
    name: layer.name, batchInputShape: config.batchInputShape as number[]|undefined,
    dtype: config.dtype as 'float32'|undefined, trainable: false,
    units: stored.shape[1], inputDim: stored.shape[0], activation: config.activation as string,
    useBias: config.useBias as boolean, blockSize: stored.blockSize, valueDtype: stored.dtype,
    positionCoding: stored.coding, riceParameter: stored.riceParameter, nonzeroBlocks: stored.nonzeroBlocks,
    storedValues: stored.storedValues, positionWords: stored.positionWords, kernelBlockSize,
  };
  const sparse = layer.getClassName() === 'Dense' ? new SparseDense(args) : new SparseConv2D({
    ...args, kernelSize: pairOf(config.kernelSize), strides: pairOf(config.strides ?? 1),
    padding: config.padding as SparseConv2DArgs['padding'], dataFormat: config.dataFormat as SparseConv2DArgs['dataFormat'],
  });
  const made: Tensor[] = [
    tensor1d(stored.positions, 'int32'),
    stored.scales ? tensor1d(int8ToWords(stored.values as Int8Array), 'int32') : tensor1d(stored.values as Float32Array),
  ];
  if (stored.scales) made.push(tensor1d(stored.scales));
  // The bias is the second weight of Dense and Conv2D.
  const values = config.useBias ? [...made, layer.weights[1].read()] : made;
  conv.pending.push({layer: sparse, values, made});
  const report = {...entry, kernelBlockSize};
  conv.report.push(report);
  conv.converted.set(report, {layer: sparse, rowsPerExample: rows});
  return sparse;
}

/**
 * A copy of a layer (same class, config and name) whose weights are set once the new model is built.
 * Its build skips the initializers (tfjs-layers' fast weight init, as `loadLayersModel` does): they
 * would be overwritten, and the recurrent layers' Orthogonal one fails without the @tensorflow/tfjs
 * union package's chained ops.
 */
function copyLayer(layer: Layer, conv: Conversion): Layer {
  const copy = cloneLayer(layer);
  copy.setFastWeightInitDuringBuild(true);
  conv.pending.push({layer: copy, values: layer.weights.map(v => v.read()), made: []});
  return copy;
}

function convertLayer(layer: Layer, conv: Conversion): Layer {
  if (layer instanceof LayersModel) return convertModel(layer, conv);
  if (conv.kernels.has(layer)) return convertMatrixLayer(layer, conv);
  if (layer.weights.length > 0) {
    const bytes = weightBytes(layer);
    const reason = `${notConvertible(layer)}: left dense`;
    conv.report.push({
      name: layer.name, className: layer.getClassName(), newClassName: layer.getClassName(), converted: false,
      reason, sparsity: null,
      dtype: null, blockSize: null, blockSource: null, kernelBlockSize: null, kernelDensity: null, kernel: null,
      layout: 'channelsLast', bytesBefore: bytes, bytesAfter: bytes,
    });
  }
  return copyLayer(layer, conv);
}

/**
 * A copy of `model` with every layer converted (`convertLayer`), their weights set, and the entries
 * of `conv.report` for its layers with weights.
 */
export function convertModel(model: LayersModel, conv: Conversion): LayersModel {
  const first = conv.pending.length;
  const out = cloneModel(model, layer => convertLayer(layer, conv));
  for (const {layer, values, made} of conv.pending.splice(first)) {
    try {
      layer.setWeights(values);
    } finally {
      dispose(made);
    }
  }
  return out;
}
