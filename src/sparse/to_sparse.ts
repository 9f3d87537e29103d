/**
 * `toSparse`: a pruned (or stripped, or plain) model becomes a deployable model whose sparse Dense
 * and Conv2D layers are `SparseDense` / `SparseConv2D` layers: compact on disk (block positions
 * + nonzero values, f32 or int8) and running on the block-sparse matmul. Every other layer is copied
 * as it is.
 */
import {getBackend} from '@tensorflow/tfjs-core';
import {LayersModel, layers} from '@tensorflow/tfjs-layers';
import {DEFAULT_MIN_SPARSITY, PLAN_BATCHES} from '../kernels/dispatch';
import {foldedActivationNames, foldLayers} from '../model/fold';
import {clipRelu6} from '../model/relu6';
import {stripPruning} from '../pruning/prune';
import {collectPrunableLayers} from '../pruning/model_wrappers';
import {booleanOption, checkChoice, checkOptions, checkSparsity, describeValue, positiveIntPair} from '../util/validate';
import {planChannelMajor, toChannelMajor} from './channel_major';
import {Conversion, convertModel, isConvertible, SparseLayerReport} from './layer_conversion';
import {planBlockSparseMatMul} from './matmul';
import {StoredDtype, VALID_STORED_DTYPES} from './quantize';

type Layer = layers.Layer;

/** Options of `toSparse`. */
export interface ToSparseOptions {
  /** Stored and computed value type: 'float32' (default) or 'int8' (per-output-channel scales). */
  dtype?: StoredDtype;
  /** Layers whose kernel has a smaller fraction of zeros stay dense; default 0.3. */
  minSparsity?: number;
  /**
   * `[bh, bw]` blocks for every converted layer (clipped to the kernel's shape). Default: the
   * layer's pruning block size when it was pruned in blocks, else the shape that stores it smallest.
   */
  blockSize?: [number, number];
  /**
   * Fold each BatchNormalization into the Conv2D / DepthwiseConv2D before it, and a following
   * ReLU / ReLU6 into its activation, dropping Dropout (inference transforms: outputs within float32
   * rounding). Default true.
   */
  foldBatchNorm?: boolean;
  /**
   * 'auto' (default): move runs of layers around sparse 1x1 convolutions that run the
   * pixel-vectorized kernel (with the depthwise convolutions and elementwise layers between them)
   * to channel-major layout between one transpose in and one out. 'channelsLast': keep every
   * layer's layout.
   */
  layout?: ToSparseLayout;
}

/** Layout options of `toSparse`. */
export type ToSparseLayout = 'auto'|'channelsLast';
export const VALID_TO_SPARSE_LAYOUTS: ToSparseLayout[] = ['auto', 'channelsLast'];

const OPTION_NAMES = ['dtype', 'minSparsity', 'blockSize', 'foldBatchNorm', 'layout'];

/** Result of `toSparse`. */
export interface ToSparseResult {
  model: LayersModel;
  report: SparseLayerReport[];
}

/** `toSparse`'s options, checked, with their defaults. */
function toSparseOptions(options: ToSparseOptions): Required<Omit<ToSparseOptions, 'blockSize'>> & {blockSize?: [number, number]} {
  options = checkOptions(options, OPTION_NAMES, 'toSparse');
  const dtype = checkChoice(options.dtype ?? 'float32', VALID_STORED_DTYPES, 'dtype', 'toSparse');
  const minSparsity = options.minSparsity ?? DEFAULT_MIN_SPARSITY;
  checkSparsity(minSparsity, 'toSparse', 'minSparsity', true);
  const blockSize = options.blockSize == null ? undefined : positiveIntPair(options.blockSize, 'blockSize', 'toSparse');
  const foldBatchNorm = booleanOption(options.foldBatchNorm, 'foldBatchNorm', 'toSparse') ?? true;
  const layout = checkChoice(options.layout ?? 'auto', VALID_TO_SPARSE_LAYOUTS, 'layout', 'toSparse');
  return {dtype, minSparsity, blockSize, foldBatchNorm, layout};
}

/** Convertible layers of `model` and of its nested models. */
function convertibleLayers(model: LayersModel): Layer[] {
  return model.layers.flatMap(l => l instanceof LayersModel ? convertibleLayers(l) : isConvertible(l) ? [l] : []);
}

/**
 * Converts a model for deployment: each Dense (Conv2D with dilation 1) layer whose kernel has at
 * least `minSparsity` zeros becomes a `SparseDense` (`SparseConv2D`) layer: compact block-sparse
 * storage, block-sparse matmul (a k×k convolution on its patches, or `tf.conv2d` on the decoded
 * kernel where the matmul dispatcher would not run sparse). Every other layer is copied unchanged
 * and reported with the reason. A model with `PruneLowMagnitude` wrappers is stripped first
 * (`stripPruning`, which masks the wrapped weights in place), and its pruning block sizes are kept.
 * The result is a new, uncompiled model that shares no weights with `model`, saves and loads
 * through any `tf.io` handler (the classes are registered), and predicts as the stripped model
 * does: float32 up to summation order (relative 1e-5), int8 within the bound of
 * `SparseDense`'s quantization (per-output-channel weights, per-row activations).
 * ```ts
 * const {model: deployed, report} = await toSparse(pruned, {dtype: 'int8'});
 * console.table(report);
 * await deployed.save('file://./model-int8');
 * ```
 * @param model a Sequential or functional LayersModel, pruned, stripped or plain.
 * @param options dtype, minSparsity, blockSize.
 * @returns the new model and one report entry per layer with weights, in the order converted.
 * @throws Error for a non-model, an unknown option, or a bad dtype, minSparsity or blockSize.
 */
export async function toSparse(model: LayersModel, options: ToSparseOptions = {}): Promise<ToSparseResult> {
  if (!(model instanceof LayersModel)) {
    throw new Error(`Argument 'model' passed to 'toSparse' must be a tf.LayersModel, but got ${describeValue(model, 'type')}`);
  }
  const checked = toSparseOptions(options);
  const wrappers = collectPrunableLayers(model);
  const pruningBlocks = new Map<Layer, [number, number]>();
  for (const w of wrappers) {
    if (w.blockSize[0] * w.blockSize[1] > 1) pruningBlocks.set(w.layer, [w.blockSize[0], w.blockSize[1]]);
  }
  const stripped = wrappers.length > 0 ? stripPruning(model) : model;
  const {model: source, folded} = checked.foldBatchNorm ? foldLayers(stripped) : {model: stripped, folded: []};
  // The pruning block sizes belong to the stripped layers; a folded convolution is a new layer.
  const kernels = new Map<Layer, Float32Array>();
  for (const layer of convertibleLayers(source)) {
    if (layer.weights.length > 0) kernels.set(layer, await layer.weights[0].read().data() as Float32Array);
  }
  if (source !== stripped) {
    const byName = new Map(source.layers.map(l => [l.name, l]));
    for (const [inner, block] of [...pruningBlocks]) {
      const now = byName.get(inner.name);
      if (now && now !== inner) pruningBlocks.set(now, block);
    }
  }
  const conv: Conversion = {options: checked, kernels, pruningBlocks, report: [], pending: [], converted: new Map()};
  let out = convertModel(source, conv);
  if (source !== stripped) source.dispose();
  const backend = getBackend();
  for (const [entry, {layer, rowsPerExample: rows}] of conv.converted) {
    const packed = layer.packedKernel();
    const [batch1, batch32] = PLAN_BATCHES.map(b => planBlockSparseMatMul([b * rows, layer.inputDim], packed).kernel);
    entry.kernel = {batch1, batch32, backend};
    entry.kernelDensity = 1 - packed.sparsity;
  }
  const report = conv.report;
  for (const f of folded) {
    const entry = report.find(r => r.name === f.name);
    const reason = f.into ? `folded into '${f.into}' (inference transform)` : 'dropped (the identity at inference)';
    if (entry) Object.assign(entry, {newClassName: '(folded)', converted: true, reason, bytesAfter: 0});
  }
  if (checked.layout === 'auto') {
    const plan = planChannelMajor(out);
    if (typeof plan !== 'string' && plan.roles.size > 0) {
      const moved = toChannelMajor(out, plan);
      out.dispose();
      out = moved;
      for (const [node, role] of plan.roles) {
        const entry = report.find(r => r.name === node.layer.name);
        if (!entry) continue;
        entry.layout = 'channelsFirst';
        if (role === 'pixelConv' && entry.kernel) {
          entry.kernel = {...entry.kernel, batch1: 'pixel', batch32: 'pixel'};
          entry.reason += '; channel-major run: pixel-vectorized kernel';
        } else if (role === 'depthwise') {
          Object.assign(entry, {newClassName: 'DepthwiseConv2DChannelsFirst', converted: true,
            reason: 'channel-major run: our channel-major 3x3 depthwise kernel'});
        }
      }
    }
  }
  // A relu6 folded into a layer that tfjs runs itself goes back to a ReLU layer (see relu6.ts).
  const {model: clipped, clipped: list} = clipRelu6(out, foldedActivationNames(folded));
  if (clipped !== out) {
    out.dispose();
    out = clipped;
    for (const {layer, relu} of list) {
      const entry = report.find(r => r.name === layer);
      if (entry) entry.reason += `; its relu6 runs as the ReLU layer '${relu}' after it (tfjs runs a relu6 activation unfused, as minimum(6, relu(x)))`;
    }
  }
  return {model: out, report};
}
