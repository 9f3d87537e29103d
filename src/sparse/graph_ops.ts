/**
 * The ops that `sparsifyGraphModel` writes into a graph model, registered with tfjs-converter's
 * `registerOp` under names of our own (no built-in op is overridden, so other graph models are
 * untouched):
 * - `SparsityConv2D`: a channels-last Conv2D whose kernel is stored compactly (`storage.ts`), run by
 *   `sparseConv2dChannelsLast` (block-sparse matmul, pixel kernel or `tf.conv2d`, as dispatched);
 * - `SparsityMatMul`: a MatMul by such a kernel, on `blockSparseMatMul`;
 * - `SparsityConv2DNCHW`: a 1x1 convolution inside a channel-major run, on the pixel kernel;
 * - `SparsityDepthwiseNCHW`: a 3x3 depthwise convolution inside a channel-major run.
 * Sparse kernels arrive as graph inputs (Const nodes: positions, values, scales); the layout the
 * kernels read is decoded from them on first use and cached against those very tensors, so a weight
 * replaced in the model's weight map is decoded again, never served from the cache (tfjs tensors are
 * immutable, so the same tensor always holds the same values).
 */
import {clipByValue, reshape, stridedSlice, Tensor, Tensor1D, Tensor4D, tidy} from '@tensorflow/tfjs-core';
import '../kernels/register';
import {isPositiveIntPair} from '../util/validate';
import {bytesOf, crc32c} from '../util/crc32c';
import {FusedActivation, VALID_FUSED_ACTIVATIONS} from './activation';
import {depthwiseConv2dChannelsFirst} from './depthwise_nchw';
import {BlockSparseMatrix} from './format';
import {packKept} from './pack';
import {blockSparseMatMul} from './matmul';
import {PixelSparseMatrix} from './pixel_format';
import {channelMajorSparseMatMul} from './pixel_matmul';
import {sparseConv2dChannelsLast} from './conv_channels_last';
import {DenseWeight, dequantize, VALID_STORED_DTYPES} from './quantize';
import {decodeStored, StorageError, StorageLayout, VALID_POSITION_CODINGS} from './storage';

export const SPARSE_CONV_OP = 'SparsityConv2D';
export const SPARSE_MATMUL_OP = 'SparsityMatMul';
export const SPARSE_CONV_NCHW_OP = 'SparsityConv2DNCHW';
export const DEPTHWISE_NCHW_OP = 'SparsityDepthwiseNCHW';
/** The ops `sparsifyGraphModel` writes. */
export const GRAPH_OPS = [SPARSE_CONV_OP, SPARSE_MATMUL_OP, SPARSE_CONV_NCHW_OP, DEPTHWISE_NCHW_OP];

/** The node attribute holding an op's configuration (JSON, as a GraphDef string attribute). */
export const CONFIG_ATTR = 'sparsity_config';

/** CRC-32C of a sparse node's stored arrays, checked when a saved model is loaded. */
export interface GraphChecksums {
  positions: number;
  values: number;
  scales?: number;
}

/** Configuration of the ops with a compactly stored kernel (`[K, N]`, Keras `[in, out]`). */
export interface SparseNodeConfig {
  layout: StorageLayout;
  checksums: GraphChecksums;
  /** `[1, bw]`: strips of the block-sparse kernels (`SparsityConv2D`, `SparsityMatMul`). */
  kernelBlockSize: [number, number];
  activation: FusedActivation;
  hasBias: boolean;
  /** Convolutions: `[kh, kw]`, `[sh, sw]` and padding. */
  kernelSize?: [number, number];
  strides?: [number, number];
  padding?: 'same'|'valid';
}

/** Configuration of `SparsityDepthwiseNCHW`. */
export interface DepthwiseNodeConfig {
  strides: 1|2;
  padding: [[number, number], [number, number]];
  activation: FusedActivation;
  hasBias: boolean;
}

/** What tfjs-converter passes an op function. */
export interface OpNode {
  inputs: Tensor[];
  attrs: Record<string, unknown>;
}

/** The error of a sparse node whose inputs or config do not match; `what` says how. */
function nodeError(op: string, what: string): Error {
  return new Error(`${op}: ${what} (the graph model is corrupt or was not written by sparsifyGraphModel)`);
}

/** `value` with its keys renamed by `rename`, at every depth. */
function renameKeys(value: unknown, rename: (key: string) => string): unknown {
  if (Array.isArray(value)) return value.map(v => renameKeys(v, rename));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [rename(k), renameKeys(v, rename)]));
}

/**
 * A config as the JSON of a node attribute. tfjs-converter lower-cases string attributes as it
 * reads them, so keys are written in snake_case (every value the configs hold is lower case).
 */
export function configAttr(config: SparseNodeConfig|DepthwiseNodeConfig): string {
  return JSON.stringify(renameKeys(config, k => k.replace(/[A-Z]/g, c => `_${c.toLowerCase()}`)));
}

function configOf<T>(node: OpNode, op: string): T {
  const text = node.attrs[CONFIG_ATTR];
  if (typeof text !== 'string') throw nodeError(op, `attribute '${CONFIG_ATTR}' is missing`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw nodeError(op, `attribute '${CONFIG_ATTR}' is not JSON`);
  }
  return renameKeys(parsed, k => k.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase())) as T;
}

/** The checked config of a sparse node from its attribute's text. */
export function readNodeConfig<T extends SparseNodeConfig>(text: string|undefined, op: string): T {
  const config = configOf<T>({inputs: [], attrs: {[CONFIG_ATTR]: text}}, op);
  checkSparseConfig(config, op);
  return config;
}

/** Checks the fields of a sparse node's config that the kernels rely on. */
function checkSparseConfig(c: SparseNodeConfig, op: string): void {
  const l = c?.layout;
  const ok = l != null && isPositiveIntPair(l.shape) && isPositiveIntPair(l.blockSize) && VALID_STORED_DTYPES.includes(l.dtype) &&
      VALID_POSITION_CODINGS.includes(l.coding) &&
      [l.riceParameter, l.nonzeroBlocks, l.storedValues, l.positionWords].every(v => Number.isInteger(v) && v >= 0) &&
      isPositiveIntPair(c.kernelBlockSize) && c.kernelBlockSize[0] === 1 && VALID_FUSED_ACTIVATIONS.includes(c.activation) &&
      typeof c.hasBias === 'boolean' && c.checksums != null;
  if (!ok) throw nodeError(op, `bad '${CONFIG_ATTR}' ${JSON.stringify(c)}`);
}

/** The layout a node's stored kernel decodes into. */
type PackedKind = 'pixel'|'strips';

interface CacheEntry {
  positions: Tensor;
  scales: Tensor|null;
  kind: PackedKind;
  matrix: PixelSparseMatrix|BlockSparseMatrix;
}

/** Decoded kernels by their `values` tensor. */
const cache = new Map<Tensor, CacheEntry>();

function release(values: Tensor): void {
  const entry = cache.get(values);
  if (!entry) return;
  entry.matrix.dispose();
  cache.delete(values);
}

/** Frees the decoded kernels of weights that were disposed (their model was). */
function sweep(): void {
  for (const [values, entry] of cache) {
    if (values.isDisposed || entry.positions.isDisposed) release(values);
  }
}

/** Frees the decoded kernels of any of `tensors` (a model's weights, when it is disposed). */
export function releaseDecodedWeights(tensors: Iterable<Tensor>): void {
  for (const t of tensors) release(t);
}

/** Number of decoded kernels held (for tests). */
export function decodedWeightCount(): number {
  return cache.size;
}

/** The `[K, N]` kernel stored in a node's `positions`, `values` (and `scales`) inputs, checked against the layout. */
export function decodeNodeKernel(op: string, layout: StorageLayout, positions: Tensor, values: Tensor,
                                 scales: Tensor|null): DenseWeight {
  const int8 = layout.dtype === 'int8';
  const want = (t: Tensor|null, name: string, dtype: string, size: number) => {
    if (!t || t.dtype !== dtype || t.rank !== 1 || t.size !== size) {
      throw nodeError(op, `input '${name}' must be ${dtype} [${size}], but got ${t ? `${t.dtype} [${t.shape}]` : 'none'}`);
    }
  };
  want(positions, 'positions', 'int32', layout.positionWords);
  want(values, 'values', int8 ? 'int32' : 'float32', int8 ? Math.ceil(layout.storedValues / 4) : layout.storedValues);
  if (int8) want(scales, 'scales', 'float32', layout.shape[1]);
  try {
    return decodeStored(layout, positions.dataSync() as Int32Array, values.dataSync() as Float32Array|Int32Array,
        int8 ? scales!.dataSync() as Float32Array : undefined);
  } catch (e) {
    if (e instanceof StorageError) throw nodeError(op, `the stored kernel does not decode: ${e.what}`);
    throw e;
  }
}

/**
 * Checks a saved sparse node: its config, each stored array's CRC-32C against the config's, and the
 * structure of the stored kernel. `inputs` are its positions, values and scales (null when absent).
 * @throws Error naming the node and what fails.
 */
export function checkStoredNode(op: string, configText: string|undefined, inputs: Array<Tensor|null>, name: string): void {
  const fail = (what: string) => new Error(`loadSparseGraphModel: node '${name}' (${op}): ${what}`);
  let config: SparseNodeConfig;
  try {
    config = readNodeConfig(configText, op);
  } catch (e) {
    throw fail((e as Error).message);
  }
  const [positions, values, scales] = inputs;
  const names = ['positions', 'values', ...(config.layout.dtype === 'int8' ? ['scales'] : [])] as Array<keyof GraphChecksums>;
  for (const [i, key] of names.entries()) {
    const t = inputs[i];
    if (!t) throw fail(`its ${key} are not a constant weight`);
    const expected = config.checksums[key];
    const actual = crc32c(bytesOf(t.dataSync()));
    if (actual !== expected) {
      throw fail(`weight '${key}' fails its CRC-32C check (the node records ${expected}, its bytes give ${actual}): ` +
          'the artifact is corrupt or does not match its model.json');
    }
  }
  try {
    decodeNodeKernel(op, config.layout, positions!, values!, config.layout.dtype === 'int8' ? scales : null);
  } catch (e) {
    throw fail((e as Error).message);
  }
}

/** The kernel of a sparse node in the layout its kernels read, decoded once per set of weight tensors. */
function packedKernel(op: string, config: SparseNodeConfig, inputs: Tensor[], kind: 'pixel'): PixelSparseMatrix;
function packedKernel(op: string, config: SparseNodeConfig, inputs: Tensor[], kind: 'strips'): BlockSparseMatrix;
function packedKernel(op: string, config: SparseNodeConfig, inputs: Tensor[], kind: PackedKind): PixelSparseMatrix|BlockSparseMatrix {
  const [, positions, values] = inputs;
  const scales = config.layout.dtype === 'int8' ? inputs[3] ?? null : null;
  const entry = cache.get(values);
  if (entry && entry.positions === positions && entry.scales === scales && entry.kind === kind && !entry.matrix.isDisposed) {
    return entry.matrix;
  }
  if (entry) release(values);
  sweep();
  const kernel = decodeNodeKernel(op, config.layout, positions, values, scales);
  const {shape, dtype} = config.layout;
  let matrix: PixelSparseMatrix|BlockSparseMatrix;
  if (kind === 'pixel') {
    // From the dequantized weight: quantizing it again gives back the stored int8 values and scales.
    matrix = PixelSparseMatrix.fromDense(dequantize(kernel), shape, dtype);
  } else {
    matrix = packKept(kernel, shape, [1, Math.min(config.kernelBlockSize[1], shape[1])]);
  }
  cache.set(values, {positions, scales, kind, matrix});
  return matrix;
}

function biasOf(config: {hasBias: boolean; layout?: StorageLayout}, inputs: Tensor[], first: number): Tensor1D|undefined {
  return config.hasBias ? inputs[first] as Tensor1D : undefined;
}

/** relu6 after the kernels that fuse relu only. */
function finish(y: Tensor, activation: FusedActivation): Tensor {
  return activation === 'relu6' ? clipByValue(y, 0, 6) : y;
}

function stripsActivation(activation: FusedActivation): 'relu'|'linear' {
  return activation === 'linear' ? 'linear' : 'relu';
}

/** Index of the first input after the stored kernel (the bias). */
function biasIndex(config: SparseNodeConfig): number {
  return config.layout.dtype === 'int8' ? 4 : 3;
}

/** `SparsityConv2D`: x `[B, H, W, C]`. */
function sparseConv2dOp(node: OpNode): Tensor {
  const config = configOf<SparseNodeConfig>(node, SPARSE_CONV_OP);
  checkSparseConfig(config, SPARSE_CONV_OP);
  const packed = packedKernel(SPARSE_CONV_OP, config, node.inputs, 'strips');
  return tidy(() => finish(sparseConv2dChannelsLast(node.inputs[0] as Tensor4D, packed, {kernelSize: config.kernelSize!,
    strides: config.strides!, padding: config.padding!}, biasOf(config, node.inputs, biasIndex(config)),
  stripsActivation(config.activation)), config.activation));
}

/** `SparsityMatMul`: x `[M, K]`. */
function sparseMatMulOp(node: OpNode): Tensor {
  const config = configOf<SparseNodeConfig>(node, SPARSE_MATMUL_OP);
  checkSparseConfig(config, SPARSE_MATMUL_OP);
  const packed = packedKernel(SPARSE_MATMUL_OP, config, node.inputs, 'strips');
  return tidy(() => finish(blockSparseMatMul(node.inputs[0], packed, {bias: biasOf(config, node.inputs, biasIndex(config)),
    activation: stripsActivation(config.activation)}), config.activation));
}

/** `SparsityConv2DNCHW`: a 1x1 convolution of x `[B, C, H, W]` on the pixel kernel. */
function sparseConv2dNchwOp(node: OpNode): Tensor {
  const config = configOf<SparseNodeConfig>(node, SPARSE_CONV_NCHW_OP);
  checkSparseConfig(config, SPARSE_CONV_NCHW_OP);
  const packed = packedKernel(SPARSE_CONV_NCHW_OP, config, node.inputs, 'pixel');
  return tidy(() => {
    let x = node.inputs[0] as Tensor4D;
    const [sh, sw] = config.strides ?? [1, 1];
    if (sh > 1 || sw > 1) x = stridedSlice(x, [0, 0, 0, 0], x.shape, [1, 1, sh, sw]) as Tensor4D;
    const [b, c, h, w] = x.shape;
    const y = channelMajorSparseMatMul(reshape(x, [b, c, h * w]), packed,
        {bias: biasOf(config, node.inputs, biasIndex(config)), activation: config.activation});
    return reshape(y, [b, packed.shape[1], h, w]);
  });
}

/** `SparsityDepthwiseNCHW`: x `[B, C, H, W]`, filter `[C, 1, 3, 3]`, bias `[C]`. */
function depthwiseNchwOp(node: OpNode): Tensor {
  const config = configOf<DepthwiseNodeConfig>(node, DEPTHWISE_NCHW_OP);
  return depthwiseConv2dChannelsFirst(node.inputs[0] as Tensor4D, node.inputs[1], {strides: config.strides,
    padding: config.padding, activation: config.activation, bias: config.hasBias ? node.inputs[2] as Tensor1D : undefined});
}

const EXECUTORS: Record<string, (node: OpNode) => Tensor> = {
  [SPARSE_CONV_OP]: sparseConv2dOp,
  [SPARSE_MATMUL_OP]: sparseMatMulOp,
  [SPARSE_CONV_NCHW_OP]: sparseConv2dNchwOp,
  [DEPTHWISE_NCHW_OP]: depthwiseNchwOp,
};

/** Registers the ops through tfjs-converter's `registerOp` (idempotent). */
export function registerGraphOps(registerOp: (name: string, fn: (node: OpNode) => Tensor) => void): void {
  for (const [name, fn] of Object.entries(EXECUTORS)) registerOp(name, fn);
}
